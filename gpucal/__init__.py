"""gpucal: fast, faithful JWST imaging calibration on CPUs and GPUs.

Importing :mod:`gpucal` is deliberately cheap: it loads neither numba nor
CuPy. Those come in when a device is chosen or a kernel first runs, so the
thousands of short processes of a reprocessing farm pay only for what they use.
"""

from gpucal._version import __version__

__all__ = ["__version__"]
