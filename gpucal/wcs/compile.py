"""Compile gwcs / astropy transforms into CPU (numba) and GPU (numba.cuda) code.

The pixel map of resample (every input pixel -> world -> output pixel) is
the most expensive part of jwst's image3. This module evaluates such maps, and
single transforms, for every pixel with compiled float64 code:

1. the astropy model tree (gwcs pipelines are a ``|`` chain of steps) is
   lowered to straight-line code whose numbers are read from a parameter
   array at run time (:mod:`gpucal.wcs._compile_ir`), so one compiled kernel
   serves every exposure with the same model layout;
2. structure-only algebraic rewrites fold shift/scale/affine chains, cancel
   ``cartesian -> spherical -> cartesian`` between rotations (the sky
   coordinate between an input WCS and the output grid is never formed) and
   turn the TAN projection into a central projection
   (:mod:`gpucal.wcs._compile_passes`);
3. the code is generated into the gpucal cache folder and compiled by numba
   for the CPU (parallel, vectorized loops: helpers are pasted in and written
   without branches or library calls) and CUDA
   (:mod:`gpucal.wcs._compile_codegen`).

Formulas follow astropy, gwcs and WCSLIB operation by operation (degrees
where they use degrees, their longitude wrapping, rotation matrix order, TAN
details), so results agree with gwcs to rounding. Bounding boxes follow gwcs:
a forward WCS transform blanks (NaN) inputs outside its box; the output box of
a pixel map is not applied, as in stcal's ``calc_pixmap``.

Models the compiler does not know fall back to a gwcs-evaluated coarse grid
interpolated on the device (:mod:`gpucal.wcs._compile_fallback`), with a log
notice stating the measured error bound.
"""

import sys

import numpy as np

from gpucal.engine.device import CPU, cuda_status
from gpucal.errors import BackendNotSupportedError, ParameterError
from gpucal.wcs._compile_codegen import generate, load_module
from gpucal.wcs._compile_fallback import fallback_grid_program, gwcs_pixmap_values
from gpucal.wcs._compile_ir import Unsupported, bbox_intervals, build_program
from gpucal.wcs._compile_passes import simplify as simplify_program

__all__ = ["CompiledTransform", "PixmapPlan", "compile_pixmap", "compile_transform", "gwcs_pixmap_values"]


def _is_wcs(obj):
    return hasattr(obj, "forward_transform") and hasattr(obj, "pixel_to_world_values")


def _own_bbox(model):
    try:
        return model.bounding_box
    except NotImplementedError:
        return None


class CompiledTransform:
    """A transform compiled for the CPU and CUDA, with its run-time parameters.

    Attributes
    ----------
    n_inputs, n_outputs : int
    params : numpy.ndarray
        The flat float64 parameter array the compiled code reads.
    key : str
        Hash of the structure: equal keys share one compiled kernel.
    exact : bool
        False when the coarse-grid fallback is in use.
    error_bound : float
        0 for compiled code (rounding only); the measured interpolation error
        (pixels) for the fallback.
    source : str
        The generated ``transform_py`` source (for inspection).
    """

    def __init__(self, program, *, exact=True, error_bound=0.0, contract=False):
        self.program = program
        self._code = generate(program, contract=contract)
        self.n_inputs = self._code.n_inputs
        self.n_outputs = self._code.n_outputs
        self.params = self._code.params
        self.key = self._code.key
        self.source = self._code.body
        self.exact = exact
        self.error_bound = error_bound
        self._device_params = {}

    def module(self, target):
        """The generated module for ``"cpu"`` or ``"gpu"`` (``transform``, ``points``, ``grid``)."""
        return load_module(self._code, target)

    # -- coordinate arrays -------------------------------------------------
    def _check_coords(self, coords):
        if len(coords) != self.n_inputs:
            raise ParameterError(f"coords: expected {self.n_inputs} coordinate arrays, got {len(coords)}")

    def _result(self, outs):
        return outs[0] if self.n_outputs == 1 else tuple(outs)

    def cpu(self, *coords):
        """Evaluate on numpy arrays of any (common, broadcastable) shape; returns numpy arrays."""
        self._check_coords(coords)
        arrays = np.broadcast_arrays(*(np.asarray(c, dtype=np.float64) for c in coords))
        shape = arrays[0].shape
        flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
        outs = [np.empty(flat[0].size, dtype=np.float64) for _ in range(self.n_outputs)]
        if flat[0].size:
            self.module("cpu").points(flat[0].size, *flat, self.params, *outs)
        return self._result([o.reshape(shape) for o in outs])

    def _gpu_params(self, xp):
        if xp is np:
            return self.params
        device_id = xp.cuda.Device().id
        if device_id not in self._device_params:
            self._device_params[device_id] = xp.asarray(self.params)
        return self._device_params[device_id]

    def _gpu_arrays(self, coords):
        self._check_coords(coords)
        cupy = sys.modules.get("cupy")
        on_gpu = cupy is not None and any(isinstance(c, cupy.ndarray) for c in coords)
        if not on_gpu and not cuda_status().simulated:
            msg = "coords: the CUDA form needs CuPy arrays on a GPU (see gpucal.engine.to_device)"
            raise BackendNotSupportedError(msg)
        xp = cupy if on_gpu else np
        arrays = xp.broadcast_arrays(*(xp.asarray(c, dtype=xp.float64) for c in coords))
        flat = [xp.ascontiguousarray(a).reshape(-1) for a in arrays]
        outs = [xp.empty(flat[0].size, dtype=xp.float64) for _ in range(self.n_outputs)]
        return xp, arrays[0].shape, flat, outs

    def gpu(self, *coords):
        """Evaluate with the CUDA kernel: CuPy arrays on a GPU (numpy arrays in the simulator)."""
        from gpucal.engine.jit import cuda_launch_config, launch_stream

        xp, shape, flat, outs = self._gpu_arrays(coords)
        n = flat[0].size
        if n:
            params = self._gpu_params(xp)
            blocks, threads = cuda_launch_config(n, xp is np)
            self.module("gpu").points[blocks, threads, launch_stream(flat)](n, *flat, params, *outs)
        return self._result([o.reshape(shape) for o in outs])

    def gpu_kernels(self, *coords):
        """``[(python function, numba argument types)]`` of the CUDA kernel :meth:`gpu` launches."""
        import numba

        flat = [np.ascontiguousarray(c, dtype=np.float64).reshape(-1) for c in coords]
        outs = [np.empty(flat[0].size) for _ in range(self.n_outputs)]
        fn = self.module("gpu").points
        types = tuple(numba.typeof(v) for v in (flat[0].size, *flat, self.params, *outs))
        return [(getattr(fn, "py_func", fn), types)]

    def __call__(self, *coords):
        """Evaluate where the arrays are: CuPy arrays on the GPU, anything else on the CPU."""
        cupy = sys.modules.get("cupy")
        if cupy is not None and any(isinstance(c, cupy.ndarray) for c in coords):
            return self.gpu(*coords)
        return self.cpu(*coords)

    # -- pixel grids ---------------------------------------------------------
    def _check_grid(self, shape):
        if self.n_inputs != 2:
            raise ParameterError(f"shape: a pixel grid needs a 2-input transform, this one has {self.n_inputs}")
        if len(shape) != 2 or min(shape) < 0:
            raise ParameterError(f"shape: expected (ny, nx), got {shape!r}")
        return int(shape[0]), int(shape[1])

    def grid_cpu(self, shape):
        """Evaluate at every pixel ``(x=col, y=row)`` of ``shape``; returns ``(ny, nx, n_outputs)`` float64."""
        ny, nx = self._check_grid(shape)
        out = np.empty((ny, nx, self.n_outputs), dtype=np.float64)
        if ny and nx:
            self.module("cpu").grid(ny, nx, self.params, out)
        return out

    def grid_gpu(self, shape):
        """:meth:`grid_cpu` with the CUDA kernel: a CuPy array on a GPU (numpy in the simulator)."""
        from gpucal.engine.jit import cuda_launch_config, launch_stream

        ny, nx = self._check_grid(shape)
        simulated = cuda_status().simulated
        if simulated:
            xp = np
        else:
            import cupy as xp
        out = xp.empty((ny, nx, self.n_outputs), dtype=xp.float64)
        if ny and nx:
            params = self._gpu_params(xp)
            blocks, threads = cuda_launch_config(ny * nx, simulated)
            self.module("gpu").grid[blocks, threads, launch_stream([out])](ny, nx, params, out)
        return out

    def grid_gpu_kernels(self, shape):
        """``[(python function, numba argument types)]`` of the CUDA kernel :meth:`grid_gpu` launches."""
        import numba

        ny, nx = self._check_grid(shape)
        fn = self.module("gpu").grid
        out = np.empty((ny, nx, self.n_outputs))
        types = (numba.typeof(ny), numba.typeof(nx), numba.typeof(self.params), numba.typeof(out))
        return [(getattr(fn, "py_func", fn), types)]

    def grid(self, shape, device=CPU):
        """Evaluate on a pixel grid on ``device`` (a :class:`gpucal.engine.Device`)."""
        if not device.is_cuda:
            return self.grid_cpu(shape)
        if device.uses_cupy:
            import cupy

            with cupy.cuda.Device(device.index):
                return self.grid_gpu(shape)
        return self.grid_gpu(shape)


class PixmapPlan:
    """The compiled pixel map of one input array onto an output grid (see :func:`compile_pixmap`).

    Attributes
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the input array.
    transform : CompiledTransform
        Maps input pixel ``(x, y)`` to output pixel ``(x, y)``.
    exact, error_bound
        As in :class:`CompiledTransform`.
    """

    def __init__(self, transform, shape):
        self.transform = transform
        self.shape = shape
        self.exact = transform.exact
        self.error_bound = transform.error_bound

    def evaluate(self, device=CPU):
        """The ``(ny, nx, 2)`` float64 map on ``device``: numpy on the CPU, CuPy on a GPU."""
        return self.transform.grid(self.shape, device)

    def gpu_kernels(self):
        """The CUDA kernels :meth:`evaluate` launches on a CUDA device, with argument types."""
        return self.transform.grid_gpu_kernels(self.shape)


def _stages(transform, direction, with_bounding_box):
    if direction not in ("forward", "backward"):
        raise ParameterError(f"direction: expected 'forward' or 'backward', got {direction!r}")
    if _is_wcs(transform):
        try:
            model = transform.forward_transform if direction == "forward" else transform.backward_transform
        except NotImplementedError as exc:
            raise Unsupported(f"the WCS has no analytic {direction} transform") from exc
        use_bbox = True if with_bounding_box is None else with_bounding_box
        bbox = transform.bounding_box if direction == "forward" else _own_bbox(model)
    else:
        try:
            model = transform if direction == "forward" else transform.inverse
        except NotImplementedError as exc:
            raise Unsupported(f"{type(transform).__name__} has no analytic inverse") from exc
        use_bbox = bool(with_bounding_box)
        bbox = _own_bbox(model)
    return [(model, bbox_intervals(bbox if use_bbox else None, model.n_inputs))]


def _finish(program, simplify):
    if simplify:
        return CompiledTransform(simplify_program(program), contract=True)
    return CompiledTransform(program)


def _cpu_runner(program):
    return CompiledTransform(program).cpu


def compile_transform(transform, *, direction="forward", with_bounding_box=None, simplify=True, domain=None,
                      fallback_step=16, fallback_tolerance=1e-6):  # fmt: skip
    """Compile a gwcs WCS or an astropy model for evaluation on coordinate arrays or pixel grids.

    Parameters
    ----------
    transform : gwcs.WCS or astropy.modeling.Model
    direction : {"forward", "backward"}
        ``"backward"`` compiles ``wcs.backward_transform`` / ``model.inverse``
        (user-assigned inverses are used, as astropy does).
    with_bounding_box : bool, optional
        Blank (NaN) inputs outside the transform's bounding box. Default: True
        for a WCS (gwcs's default), False for a model (astropy's). For a WCS
        backward transform only the backward model's own box is applied; the
        world footprint and pixel-box checks gwcs adds in ``invert`` are not
        (the result equals gwcs with the WCS bounding box disabled, which is
        how ``calc_pixmap`` uses an output WCS).
    simplify : bool
        Apply the algebraic rewrites (default). False keeps astropy's exact
        operation sequence (for testing).
    domain : tuple, optional
        ``(ny, nx)`` pixel grid the transform will be used on; lets a
        2-input transform the compiler cannot translate fall back to a
        coarse grid over it (otherwise that raises).
    fallback_step, fallback_tolerance : number
        Initial grid step and error target (output units) of the fallback.

    Returns
    -------
    CompiledTransform

    Raises
    ------
    ParameterError
        If the transform cannot be compiled and no fallback applies.
    """
    try:
        stages = _stages(transform, direction, with_bounding_box)
        n_inputs = stages[0][0].n_inputs
        return _finish(build_program(n_inputs, stages), simplify)
    except Unsupported as exc:
        if domain is None or getattr(transform, "n_inputs", 2) != 2:
            msg = f"transform: cannot compile ({exc}); pass domain=(ny, nx) to use the grid fallback"
            raise ParameterError(msg) from exc
        reason = str(exc)
    return _fallback_transform(transform, direction, with_bounding_box, domain, fallback_step, fallback_tolerance,
                               reason)  # fmt: skip


def _fallback_transform(transform, direction, with_bounding_box, domain, step, tolerance, reason):
    wcs = _is_wcs(transform)

    def evaluate(x, y, input_bbox):
        box = bool(input_bbox and (with_bounding_box if with_bounding_box is not None else wcs))
        if direction == "forward":
            out = transform(x, y, with_bounding_box=box)
        elif wcs:
            out = transform.invert(x, y, with_bounding_box=box)
        else:
            out = transform.inverse(x, y, with_bounding_box=box)
        return np.asarray(out[0], np.float64), np.asarray(out[1], np.float64)

    intervals = []
    if direction == "forward" and (with_bounding_box if with_bounding_box is not None else wcs):
        try:
            intervals = bbox_intervals(transform.bounding_box if wcs else _own_bbox(transform), 2)
        except Unsupported as exc:
            raise ParameterError(f"transform: {exc}") from exc
    result = fallback_grid_program(evaluate, domain, intervals, step=step, tolerance=tolerance, reason=reason,
                                   compile_cpu=_cpu_runner)  # fmt: skip
    return CompiledTransform(result.program, exact=False, error_bound=result.error_bound)


def compile_pixmap(wcs_in, wcs_out, shape_in, *, simplify=True, fallback_step=16, fallback_tolerance=1e-6):
    """Compile the resample pixel map of ``wcs_in``'s pixels onto ``wcs_out``'s grid.

    Equivalent to stcal's ``calc_pixmap(wcs_in, wcs_out, shape_in)`` with
    ``stepsize=1``: ``wcs_out.world_to_pixel_values(wcs_in.pixel_to_world_values(x, y))``
    at every pixel, NaN outside ``wcs_in``'s bounding box, ``wcs_out``'s box
    not applied. stcal's blot uses this same map (detector -> median grid);
    swapping the WCSs gives the reverse map (grid -> detector).

    Parameters
    ----------
    wcs_in, wcs_out : gwcs.WCS
    shape_in : tuple of int
        ``(ny, nx)`` of the input array.
    simplify : bool
        Apply the algebraic rewrites (default).
    fallback_step, fallback_tolerance : number
        Initial grid step (pixels) and error target (pixels) of the coarse-grid
        fallback used for untranslatable models.

    Returns
    -------
    PixmapPlan
    """
    shape = tuple(int(n) for n in shape_in[-2:])
    if len(shape) != 2 or min(shape) < 0:
        raise ParameterError(f"shape_in: expected (ny, nx), got {shape_in!r}")
    try:
        stages = _stages(wcs_in, "forward", True) + _stages(wcs_out, "backward", True)
        return PixmapPlan(_finish(build_program(2, stages), simplify), shape)
    except Unsupported as exc:
        reason = str(exc)
    try:
        intervals = bbox_intervals(wcs_in.bounding_box, 2)
    except Unsupported as exc:
        raise ParameterError(f"wcs_in: {exc}") from exc

    def evaluate(x, y, input_bbox):
        return gwcs_pixmap_values(wcs_in, wcs_out, x, y, input_bbox=input_bbox)

    result = fallback_grid_program(evaluate, shape, intervals, step=fallback_step, tolerance=fallback_tolerance,
                                   reason=reason, compile_cpu=_cpu_runner)  # fmt: skip
    return PixmapPlan(CompiledTransform(result.program, exact=False, error_bound=result.error_bound), shape)
