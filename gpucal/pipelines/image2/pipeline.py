"""calwebb_image2 for imaging: bkg_subtract -> assign_wcs -> flat_field -> photom -> resample.

The science exposure is read once (into page-locked memory when the device is
a GPU), moved to the device once, calibrated there by every step, and brought
back once to be written as ``_cal`` (``_calints`` for a cube). Background
members of an image2 association feed bkg_subtract; resample writes the
``_i2d`` for 2-D imaging exposures.
"""

import logging
import pathlib
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

from gpucal.engine import select_device
from gpucal.errors import GpucalError, InputFileError, ParameterError
from gpucal.io.asn import read_asn
from gpucal.io.exposure import read_exposure
from gpucal.io.naming import exposure_root
from gpucal.pipelines.config import merge_step_params, read_parameter_file
from gpucal.pipelines.context import RunContext
from gpucal.pipelines.image2.assign_wcs import AssignWcsStep
from gpucal.pipelines.image2.bkg_subtract import BackgroundStep
from gpucal.pipelines.image2.defaults import image2_exposure_defaults
from gpucal.pipelines.image2.flat_field import FlatFieldStep
from gpucal.pipelines.image2.photom import PhotomStep
from gpucal.pipelines.resample import ResampleStep

__all__ = ["Image2Pipeline", "describe_parameters"]

log = logging.getLogger("gpucal")
_UNSET = object()


def _host_allocator(device):
    if device.uses_cupy:
        import cupyx

        return cupyx.empty_pinned
    return None


class Image2Pipeline:
    """Stage 2 imaging calibration (jwst's ``calwebb_image2``).

    Parameters
    ----------
    steps : dict, optional
        ``{step alias: {parameter: value}}`` with jwst's names, e.g.
        ``{"flat_field": {"override_flat": "my_flat.fits"}, "resample": {"skip": True}}``.
    save_results : bool, optional
        Write ``_cal``/``_calints`` (and let resample write ``_i2d``). Default False, as jwst's ``call``.
    save_bsub : bool, optional
        Deprecated alias of ``steps={"bkg_subtract": {"save_results": True}}``.
    output_dir : str, optional
        Where outputs go (default: the current directory, as jwst).
    output_file : str, optional
        Root of output names (default: the product name).
    device : str, optional
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    require_gpu : bool, optional
        Fail instead of falling back to the CPU.
    ref_dir : str, optional
        Local reference folder (default ``$GPUCAL_REF_DIR``).
    config_file : str, optional
        A jwst parameter file (ASDF or YAML) for this pipeline.
    keep_arrays : bool, optional
        Keep every calibrated exposure's arrays in the returned results (default True, as jwst's
        ``call`` returns the models). That costs one exposure's arrays per product (about 120 MB for a
        full-frame NIRCam ``_cal``) until the results are dropped, so a run over a large association
        should pass ``keep_arrays=False`` with ``save_results=True``: each exposure's arrays and gwcs are
        then released as soon as its products are written, and the results carry the keywords, the
        written paths and the timings (the command line does this).
    """

    alias = "calwebb_image2"
    jwst_class = "jwst.pipeline.calwebb_image2.Image2Pipeline"
    STEPS = {
        "bkg_subtract": BackgroundStep,
        "assign_wcs": AssignWcsStep,
        "flat_field": FlatFieldStep,
        "photom": PhotomStep,
        "resample": ResampleStep,
    }
    #: Exposure types that get an _i2d (jwst's ``image_exptypes``).
    IMAGE_EXP_TYPES = ("MIR_IMAGE", "NRC_IMAGE", "NIS_IMAGE", "FGS_IMAGE")

    def __init__(
        self, *, steps=None, save_results=_UNSET, save_bsub=_UNSET, output_dir=_UNSET, output_file=None,
        device="auto", require_gpu=None, ref_dir=None, config_file=None, keep_arrays=True,
    ):  # fmt: skip
        file_class, file_pipeline, file_steps = (
            ("", {}, {}) if config_file is None else read_parameter_file(config_file)
        )
        if file_class and "Image2Pipeline" not in file_class and "calwebb_image2" not in file_class:
            raise ParameterError(f"{config_file}: a parameter file for {file_class}, not for calwebb_image2")
        known = {"save_bsub", "save_results", "output_dir", "output_file", "skip", "suffix", "input_dir", "output_ext",
                 "output_use_model", "output_use_index", "search_output_file", "pre_hooks", "post_hooks", "class", "name"}  # fmt: skip
        unknown = set(file_pipeline) - known
        if unknown:
            raise ParameterError(f"{config_file}: unknown calwebb_image2 parameter(s) {', '.join(sorted(unknown))}")

        def pick(value, name, default):
            return value if value is not _UNSET else file_pipeline.get(name, default)

        self.save_results = bool(pick(save_results, "save_results", False))
        self.save_bsub = bool(pick(save_bsub, "save_bsub", False))
        self.output_dir = pathlib.Path(pick(output_dir, "output_dir", None) or ".")
        self.output_file = output_file or file_pipeline.get("output_file")
        self.device = select_device(device, require_gpu=require_gpu)
        self.ref_dir = ref_dir
        self.keep_arrays = bool(keep_arrays)
        if not self.keep_arrays and not self.save_results:
            raise ParameterError("keep_arrays=False without save_results would discard every result")
        user_steps = {k: dict(v) for k, v in (steps or {}).items()}
        for name in set(user_steps) | set(file_steps):
            if name not in self.STEPS:
                raise ParameterError(f"unknown step {name!r} (calwebb_image2 steps: {', '.join(self.STEPS)})")
        if self.save_bsub:
            msg = "save_bsub is deprecated; use steps.bkg_subtract.save_results instead"
            warnings.warn(msg, DeprecationWarning, stacklevel=2)
            log.warning(msg)
            user_steps.setdefault("bkg_subtract", {}).setdefault("save_results", True)
        self._layers = (file_steps, user_steps)
        # Validate every parameter now, before any input is read.
        self.steps_for(None)

    def steps_for(self, meta):
        """The configured step instances for one exposure (its jwst per-mode defaults applied)."""
        defaults = image2_exposure_defaults(meta) if meta is not None else {}
        merged = merge_step_params(defaults, *self._layers)
        return {name: cls.from_dict(merged.get(name, {})) for name, cls in self.STEPS.items()}

    @classmethod
    def call(cls, input, **kwargs):
        """Run the pipeline on a ``_rate``/``_rateints`` file or an image2 association.

        Returns
        -------
        list of gpucal.io.exposure.Exposure
            The calibrated exposures, one per association product.
        """
        return cls(**kwargs).run(input)

    # -- running ---------------------------------------------------------------
    def _products(self, input):
        path = pathlib.Path(input)
        if path.suffix.lower() == ".json":
            asn = read_asn(path)
            if asn.asn_type.lower() not in ("image2", "spec2"):
                log.warning("%s: asn_type is %r; treating it as an image2 association", path, asn.asn_type)
            for product in asn.products:
                science = product.members_of("science")
                if not product.name:
                    raise InputFileError(f"{path}: a product has no name (the root of its output file names)")
                if not science:
                    raise InputFileError(f"{path}: product {product.name!r} has no science member")
                if len(science) > 1:
                    log.warning(
                        "%s: %d science members in product %s; using only the first", path, len(science), product.name
                    )
                yield (
                    product.name,
                    science[0].path,
                    [m.path for m in product.members_of("background")],
                    asn.asn_pool,
                    path.name,
                )
        else:
            if not path.exists():
                raise InputFileError(f"{path}: no such file")
            # jwst records a lone exposure as its own "singleton" association.
            yield exposure_root(path.name), path, [], "singleton", "singleton"

    def _read(self, science):
        allocator = _host_allocator(self.device)
        return read_exposure(science, **({"allocator": allocator} if allocator else {}))

    def run(self, input):
        """Calibrate every product of ``input``; returns the calibrated exposures.

        With several products (an association of a dither set), the next
        science exposure is read and finished products are written on
        background threads while the current one is calibrated, so file I/O
        overlaps computation. Every write has finished when this returns; a
        failed write is raised here (atomic writes leave no partial file).
        """
        products = list(self._products(input))
        if len(products) > 1 and self.output_file is not None:
            log.warning("multiple products in the association; output_file is ignored")
            self.output_file = None
        if len(products) == 1:
            name, science, backgrounds, pool, table = products[0]
            return [self._release(self._run_product(name, self._read(science), science, backgrounds, pool, table))]
        results, writes = [], []
        with ThreadPoolExecutor(1, thread_name_prefix="gpucal-read") as reader, ThreadPoolExecutor(1, thread_name_prefix="gpucal-write") as writer:
            upcoming = reader.submit(self._read, products[0][1])
            for k, (name, science, backgrounds, pool, table) in enumerate(products):
                exposure = upcoming.result()
                if k + 1 < len(products):
                    upcoming = reader.submit(self._read, products[k + 1][1])
                result = self._run_product(name, exposure, science, backgrounds, pool, table, writer=writer, writes=writes)
                results.append(self._release(result))
                del exposure, result
            for future in writes:
                future.result()
        for result in results:
            result.written = [p.result() if hasattr(p, "result") else p for p in result.written]
        return results

    def _release(self, result):
        """Drop a written exposure's arrays and WCS unless the caller asked to keep them (memory flat in N).

        The gwcs (its distortion models) is about 1 MB a product; the light result keeps the keywords,
        the written paths and the timings.
        """
        if not self.keep_arrays:
            result.arrays = {}
            result.meta_tree.pop("wcs", None)
        return result

    def _run_product(self, name, exposure, science, backgrounds, pool, table, *, writer=None, writes=None):
        start = time.perf_counter()
        log.info("calwebb_image2: %s on %s", science, self.device)
        root = self.output_file or name
        ctx = RunContext(
            self.device,
            self.output_dir,
            root,
            ref_dir=self.ref_dir,
            backgrounds=list(backgrounds),
            asn_pool=pool,
            asn_table=table,
            writer=writer,
        )
        steps = self.steps_for(exposure.meta)
        if pool is not None:
            exposure.meta.asn.pool_name = pool
            exposure.meta.asn.table_name = table
        try:
            exposure.to_device(self.device)
            if backgrounds:
                suffix = "bsubints" if exposure.is_cube else "bsub"
                step = steps["bkg_subtract"]
                step = step.replace(suffix=step.suffix or suffix)
                exposure = step.run(exposure, ctx, backgrounds)
            for alias in ("assign_wcs", "flat_field", "photom"):
                exposure = steps[alias].run(exposure, ctx)
            exp_type = str(exposure.meta.exposure.type or "").upper()
            if exp_type in self.IMAGE_EXP_TYPES and not exposure.is_cube:
                resample = steps["resample"].replace(save_results=self.save_results, suffix="i2d")
                resample.run(exposure, ctx)
            exposure.to_host()
        except Exception as exc:
            _reraise_device_oom(exc, science, self.device)
            raise
        exposure.meta.filename = f"{root}_{'calints' if exposure.is_cube else 'cal'}.fits"
        if self.save_results:
            ctx.write(exposure, "calints" if exposure.is_cube else "cal")
        elapsed = time.perf_counter() - start
        summary = ", ".join(f"{alias} {seconds:.3f}s" for alias, seconds, _ in ctx.timings)
        log.info("calwebb_image2: %s done in %.3f s (%s)", root, elapsed, summary)
        exposure.timings = list(ctx.timings)
        exposure.written = list(ctx.written)
        if writes is not None:
            writes.extend(p for p in ctx.written if hasattr(p, "result"))
        return exposure


def _reraise_device_oom(exc, science, device):
    """Turn a CuPy out-of-memory error into a clear gpucal error."""
    if type(exc).__name__ == "OutOfMemoryError" and type(exc).__module__.startswith("cupy"):
        raise GpucalError(
            f"{science}: GPU {device} ran out of memory ({exc}); use --device cpu or a larger GPU"
        ) from exc


def describe_parameters():
    """All step parameters with their defaults, as a jwst-style parameter dict (for ``--dump-config``)."""
    pipeline = Image2Pipeline()
    steps = pipeline.steps_for(None)
    return {
        "class": Image2Pipeline.jwst_class, "name": "Image2Pipeline",
        "parameters": {"save_bsub": False, "save_results": False, "output_dir": None},
        "steps": [{"class": s.jwst_class, "name": alias, "parameters": s.to_dict()} for alias, s in steps.items()],
    }  # fmt: skip
