"""Pixel map of resample and outlier detection: every input pixel -> world -> output pixel.

``pixmap[y, x] = wcs_out.world_to_pixel_values(*wcs_in.pixel_to_world_values(x, y))``
for every pixel of an array of ``shape_in``, as stcal's ``calc_pixmap`` with
``stepsize=1`` computes it for jwst's resample and outlier detection: float64,
NaN outside ``wcs_in``'s bounding box, ``wcs_out``'s bounding box not applied.
stcal's blot calls it the same way (detector -> median grid) and interpolates
the median at the mapped positions; swapping the two WCSs gives the reverse
map (output grid -> detector).

* ``pixmap_ref`` evaluates gwcs itself (the specification);
* ``pixmap_cpu`` and ``pixmap_gpu`` run the WCS pipelines compiled by
  :mod:`gpucal.wcs.compile` (numba CPU, numba.cuda) with one kernel per model
  layout, reused by every exposure of that layout.

Compiled and gwcs maps agree to rounding: a few 1e-9 pixel for NIRCam's
0.031" pixels, where one unit in the last place of a right ascension in
degrees is already 1.6e-9 pixel.
"""

import numpy as np

from gpucal.engine.device import CPU, Device, cuda_status
from gpucal.wcs.compile import compile_pixmap, gwcs_pixmap_values

__all__ = ["pixmap_cpu", "pixmap_gpu", "pixmap_gpu_kernels", "pixmap_ref"]


def pixmap_ref(wcs_in, wcs_out, shape_in):
    """gwcs reference: stcal ``calc_pixmap(wcs_in, wcs_out, shape_in)`` at ``stepsize=1``.

    Parameters
    ----------
    wcs_in : gwcs.WCS
        WCS of the input array (its bounding box is honoured).
    wcs_out : gwcs.WCS
        WCS of the output grid (its bounding box is ignored).
    shape_in : tuple of int
        ``(ny, nx)`` of the input array.

    Returns
    -------
    numpy.ndarray
        ``(ny, nx, 2)`` float64: output ``(x, y)`` of every input pixel.
    """
    y, x = np.indices(tuple(shape_in[-2:]), dtype=np.float64)
    xo, yo = gwcs_pixmap_values(wcs_in, wcs_out, x, y)
    return np.dstack([xo, yo])


def pixmap_cpu(wcs_in, wcs_out, shape_in):
    """Compiled pixel map on the CPU (numba, parallel); same arguments and result as :func:`pixmap_ref`."""
    return compile_pixmap(wcs_in, wcs_out, shape_in).evaluate(CPU)


def _cuda():
    return Device("cuda", 0, simulated=cuda_status().simulated)


def pixmap_gpu(wcs_in, wcs_out, shape_in):
    """Compiled pixel map with numba.cuda: a CuPy array on a GPU (numpy in the simulator)."""
    return compile_pixmap(wcs_in, wcs_out, shape_in).evaluate(_cuda())


def pixmap_gpu_kernels(wcs_in, wcs_out, shape_in):
    """``[(python function, numba argument types)]`` of the CUDA kernels :func:`pixmap_gpu` launches."""
    return compile_pixmap(wcs_in, wcs_out, shape_in).gpu_kernels()
