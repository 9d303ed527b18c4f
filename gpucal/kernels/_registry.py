"""The kernel registry: every hot-path kernel, declared once.

Importing this module loads neither numba nor CuPy: it is a literal table of
names, modules and tolerances. Each module named here defines the three forms
of its kernel with one call signature::

    <name>_ref(...)   numpy reference (the specification, used by tests)
    <name>_cpu(...)   numba CPU form
    <name>_gpu(...)   numba.cuda form (CuPy arrays on a GPU; numpy in the simulator)
    <name>_gpu_kernels(...)  the CUDA kernels and argument types <name>_gpu
                      launches for these arguments (so the suite can compile
                      them to PTX on a machine without a GPU)

``tests/kernels`` holds one parity scenario per entry and fails when an entry
has none (cuCIM's rule: no GPU function without a NumPy equivalence test).
"""

import dataclasses
import functools
import importlib

__all__ = ["KERNELS", "KernelSpec", "forms", "kernel_for"]


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """Declaration of one kernel.

    Parameters
    ----------
    name : str
        Kernel name; the module defines ``<name>_ref``, ``<name>_cpu``, ``<name>_gpu``.
    module : str
        Import path of the module.
    step : str
        The jwst step whose hot path this is.
    rtol, atol : float
        Tolerance between forms for floating outputs (integer outputs, such as
        DQ and context bits, must match exactly).
    """

    name: str
    module: str
    step: str
    rtol: float = 1e-6
    atol: float = 0.0


KERNELS = {
    spec.name: spec
    for spec in (
        KernelSpec("flat_field", "gpucal.kernels.flat_field", "flat_field"),
        KernelSpec("photom_scale", "gpucal.kernels.photom_scale", "photom"),
        KernelSpec("match_nans", "gpucal.kernels.match_nans", "flat_field, photom, resample"),
        KernelSpec("sigma_clip_mean", "gpucal.kernels.sigma_clip", "bkg_subtract", rtol=0.0, atol=0.0),
        KernelSpec("background_subtract", "gpucal.kernels.background_subtract", "bkg_subtract", rtol=0.0, atol=0.0),
        KernelSpec("drizzle_weight", "gpucal.kernels.drizzle_weight", "resample", rtol=0.0, atol=0.0),
        KernelSpec("variance_combine", "gpucal.kernels.variance_combine", "resample", rtol=0.0, atol=0.0),
        KernelSpec("variance_finalize", "gpucal.kernels.variance_finalize", "resample", rtol=0.0, atol=0.0),
        KernelSpec("error_from_variances", "gpucal.kernels.error_from_variances", "resample", rtol=0.0, atol=0.0),
        KernelSpec("pixmap", "gpucal.kernels.pixmap", "resample, outlier_detection", rtol=0.0, atol=1e-7),
        KernelSpec("drizzle", "gpucal.kernels.drizzle", "resample, outlier_detection", rtol=1e-5, atol=1e-7),
        KernelSpec("blot", "gpucal.kernels.blot", "outlier_detection", rtol=1e-6, atol=1e-7),
        KernelSpec("outlier_median", "gpucal.kernels.outlier_median", "outlier_detection", rtol=0.0, atol=0.0),
        KernelSpec("outlier_flag", "gpucal.kernels.outlier_flag", "outlier_detection", rtol=0.0, atol=0.0),
        KernelSpec("outlier_flag_direct", "gpucal.kernels.outlier_flag", "outlier_detection", rtol=0.0, atol=0.0),
        KernelSpec("sky_moments", "gpucal.kernels.sky_stats", "skymatch", rtol=1e-12, atol=1e-9),
        KernelSpec("sky_sumdiff", "gpucal.kernels.sky_stats", "skymatch", rtol=1e-12, atol=1e-9),
        KernelSpec("sky_histogram", "gpucal.kernels.sky_stats", "skymatch", rtol=0.0, atol=0.0),
        KernelSpec("background_zoom", "gpucal.kernels.background_zoom", "tweakreg, source_catalog", rtol=1e-6),
        KernelSpec("circular_peaks", "gpucal.kernels.circular_peaks", "tweakreg", rtol=0.0, atol=0.0),
    )
}


def forms(name):
    """Return ``(ref, cpu, gpu)`` callables of a registered kernel."""
    spec = KERNELS[name]
    module = importlib.import_module(spec.module)
    return tuple(getattr(module, f"{name}_{form}") for form in ("ref", "cpu", "gpu"))


@functools.cache
def _cached_forms(name):
    return forms(name)


def kernel_for(name, device):
    """The callable form of kernel ``name`` for ``device``: the CUDA form for CUDA devices, else the numba CPU form.

    The CPU form runs on numpy arrays; the CUDA form on CuPy arrays on a GPU, or
    on numpy arrays in numba's CUDA simulator. Nothing here moves data: the
    caller has already placed the arrays where the device is.
    """
    _ref, cpu, gpu = _cached_forms(name)
    return gpu if device.is_cuda else cpu
