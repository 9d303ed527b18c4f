"""calwebb_image3 for imaging: tweakreg -> skymatch -> outlier_detection -> resample -> source_catalog.

The inputs form an :class:`~gpucal.io.library.ExposureLibrary`: only their
metadata stays in memory, and each step reads one exposure's pixels at a
time, so memory is flat in the number of exposures. Every product of the run
(the ``_crf`` per exposure, the ``_i2d`` mosaic) is staged in a scratch folder
inside the output folder and renamed into place only when the whole run has
succeeded: an interrupted or failed run leaves the products of an earlier run
as they were, and no partial file.
"""

import dataclasses
import logging
import pathlib
import time
import warnings

from gpucal.engine import CPU, select_device
from gpucal.engine.device import require_gpu_from_env
from gpucal.errors import DeviceMemoryError, GpucalError, HostFallbackWarning, InputFileError, ParameterError
from gpucal.io.atomic import check_writable_dir, commit_renames
from gpucal.io.exposure import write_exposure
from gpucal.io.library import ExposureLibrary
from gpucal.io.refs.select import reference_folder
from gpucal.pipelines.config import merge_step_params, read_parameter_file
from gpucal.pipelines.context import RunContext
from gpucal.pipelines.image2.exp_types import NIRSPEC_IMAGING_EXP_TYPES, exp_type_of
from gpucal.pipelines.image3.outlier_detection import OutlierDetectionStep
from gpucal.pipelines.image3.outputs import prepare_outputs
from gpucal.pipelines.image3.skymatch import SkyMatchStep
from gpucal.pipelines.image3.source_catalog import SourceCatalogStep
from gpucal.pipelines.image3.tweakreg import TweakRegStep
from gpucal.pipelines.progress import step_progress
from gpucal.pipelines.resample import ResampleStep

__all__ = ["Image3Pipeline", "Image3Result", "describe_parameters"]

log = logging.getLogger("gpucal")
_UNSET = object()
_PIPELINE_KEYS = {"save_results", "output_dir", "output_file", "in_memory", "skip", "suffix", "input_dir", "output_ext",
                  "output_use_model", "output_use_index", "search_output_file", "pre_hooks", "post_hooks", "class",
                  "name"}  # fmt: skip


@dataclasses.dataclass
class Image3Result:
    """What an image3 run produced.

    Attributes
    ----------
    mosaic : gpucal.io.exposure.Exposure or None
        The ``_i2d`` product (host arrays), or None when resample was skipped.
    written : list of pathlib.Path
        Every file written, in the order they were committed.
    timings : list of (str, float, str)
        ``(step, seconds, status)`` per step.
    outliers : object
        What outlier detection reported (flag counts per exposure), or None.
    catalog : gpucal.catalog.CatalogResult or None
        The mosaic's source catalog (``table``, ``segmentation``, ``n_sources``), or None when skipped.
    """

    mosaic: object
    written: list
    timings: list
    outliers: object = None
    catalog: object = None


class Image3Pipeline:
    """Stage 3 imaging (jwst's ``calwebb_image3``).

    Parameters
    ----------
    steps : dict, optional
        ``{step alias: {parameter: value}}`` with jwst's names, e.g.
        ``{"outlier_detection": {"snr": "4.0 3.0"}, "resample": {"pixfrac": 0.8}}``.
    save_results : bool, optional
        Write the ``_crf`` and ``_i2d`` products. Default False, as jwst's ``call``.
    output_dir : str, optional
        Where products go (default: the current folder).
    output_file : str, optional
        Root of the combined products (default: the association's product name).
    in_memory : bool, optional
        jwst's pipeline option; here it is the outlier step's choice of keeping the single
        drizzles in memory (True) or in row-band files (False). Inputs are never all in memory.
    device, require_gpu, config_file, ref_dir
        As for :class:`~gpucal.pipelines.image2.Image2Pipeline`.
    """

    alias = "calwebb_image3"
    jwst_class = "jwst.pipeline.calwebb_image3.Image3Pipeline"
    STEPS = {
        "tweakreg": TweakRegStep,
        "skymatch": SkyMatchStep,
        "outlier_detection": OutlierDetectionStep,
        "resample": ResampleStep,
        "source_catalog": SourceCatalogStep,
    }

    def __init__(
        self, *, steps=None, save_results=_UNSET, output_dir=_UNSET, output_file=None, in_memory=_UNSET,
        device="auto", require_gpu=None, ref_dir=None, config_file=None,
    ):  # fmt: skip
        file_class, file_pipeline, file_steps = (
            ("", {}, {}) if config_file is None else read_parameter_file(config_file)
        )
        if file_class and "Image3Pipeline" not in file_class and "calwebb_image3" not in file_class:
            raise ParameterError(f"{config_file}: a parameter file for {file_class}, not for calwebb_image3")
        unknown = set(file_pipeline) - _PIPELINE_KEYS
        if unknown:
            raise ParameterError(f"{config_file}: unknown calwebb_image3 parameter(s) {', '.join(sorted(unknown))}")

        def pick(value, name, default):
            return value if value is not _UNSET else file_pipeline.get(name, default)

        self.save_results = bool(pick(save_results, "save_results", False))
        self.output_dir = pathlib.Path(pick(output_dir, "output_dir", None) or ".")
        self.output_file = output_file or file_pipeline.get("output_file")
        self.in_memory = bool(pick(in_memory, "in_memory", True))
        self.require_gpu = require_gpu_from_env() if require_gpu is None else bool(require_gpu)
        self.device = select_device(device, require_gpu=self.require_gpu)
        self.ref_dir = reference_folder(ref_dir)  # a missing --ref-dir / GPUCAL_REF_DIR fails now (exit 5)
        user_steps = {k: dict(v) for k, v in (steps or {}).items()}
        for name in set(user_steps) | set(file_steps):
            if name not in self.STEPS:
                raise ParameterError(f"unknown step {name!r} (calwebb_image3 steps: {', '.join(self.STEPS)})")
        merged = merge_step_params(file_steps, user_steps)
        # jwst: the pipeline's in_memory wins over the outlier step's.
        merged.setdefault("outlier_detection", {})["in_memory"] = self.in_memory
        self.steps = {name: cls.from_dict(merged.get(name, {})) for name, cls in self.STEPS.items()}
        if self.steps["resample"].single:
            raise ParameterError(
                "resample: single=true writes one drizzle per exposure group; in image3 use "
                "--steps.outlier_detection.save_intermediate_results=true to get them"
            )

    @classmethod
    def call(cls, input, **kwargs):
        """Run the pipeline on an image3 association, a ``_cal`` file or a list of them; returns an Image3Result."""
        return cls(**kwargs).run(input)

    def run(self, input):
        """Run every step; commit the products only when all succeeded.

        When the GPU runs out of memory the run starts again on the CPU, with
        a warning (nothing of the failed attempt is kept); with
        ``require_gpu`` that is a :class:`~gpucal.errors.DeviceMemoryError`
        (exit code 3) instead.
        """
        try:
            return self._run_once(input)
        except Exception as exc:
            if not (self.device.is_cuda and _is_device_oom(exc)):
                raise
            if self.require_gpu:
                raise DeviceMemoryError(
                    f"{input}: GPU {self.device} ran out of memory ({exc}); a GPU is required (--require-gpu), so "
                    "the run stops: use --device cpu, a larger GPU, or a larger output pixel scale"
                ) from exc
            message = f"{input}: GPU {self.device} ran out of memory ({exc}); running image3 again on the CPU"
            log.warning(message)
            warnings.warn(message, HostFallbackWarning, stacklevel=2)
            device, self.device = self.device, CPU
            try:
                return self._run_once(input)
            finally:
                self.device = device

    def _run_once(self, input):
        start = time.perf_counter()
        if self.save_results:
            check_writable_dir(self.output_dir)
            scratch_parent = self.output_dir
        else:
            scratch_parent = None
        library = ExposureLibrary.open(input, scratch_parent)
        try:
            return self._run(library, start)
        finally:
            library.close()

    def _run(self, library, start):
        check_inputs(library)
        name = self.output_file or library.product_name
        if self.save_results:  # no output over an input; stale temporaries of these products removed
            prepare_outputs(library, name, self.output_dir, self.steps["source_catalog"])
        ctx = RunContext(self.device, self.output_dir, name, ref_dir=self.ref_dir, asn_pool=library.asn_pool,
                         asn_table=library.asn_table)  # fmt: skip
        log.info("calwebb_image3: %d exposures in %d groups on %s -> %s", len(library), len(library.group_names),
                 self.device, name)  # fmt: skip
        library.product_name = name
        steps = self.steps
        if not steps["resample"].skip:  # a missing or wrong APCORR/ABVEGAOFFSET fails now, not after the mosaic
            steps["source_catalog"].check_references(library[0].meta, ctx, source=library[0].source)
        steps["tweakreg"].run(library, ctx)
        steps["skymatch"].run(library, ctx)
        ctx.mosaic_builder = self._mosaic_builder(steps, library, ctx)
        steps["outlier_detection"].run(library, ctx)
        mosaic = self._resample(steps["resample"], library, ctx)
        if mosaic is not None and mosaic.meta.cal_step.resample == "COMPLETE":
            # The catalog and segmentation map are written into the scratch folder and committed with the rest.
            catalog = steps["source_catalog"].replace(save_results=self.save_results, output_dir=str(library.scratch),
                                                      output_file=name)  # fmt: skip
            ctx.catalog = catalog.run(mosaic, ctx)
        written = self._commit(library, mosaic, ctx) if self.save_results else []
        elapsed = time.perf_counter() - start
        summary = ", ".join(f"{alias} {seconds:.3f}s" for alias, seconds, _ in ctx.timings)
        log.info("calwebb_image3: %s done in %.3f s (%s)", name, elapsed, summary)
        return Image3Result(mosaic, written, list(ctx.timings), ctx.outlier_result, ctx.catalog)

    def _mosaic_builder(self, steps, library, ctx):
        """A mosaic that outlier detection feeds as it flags, or None.

        When outlier detection runs and resample asks for the grid outlier
        detection drizzles onto (the default grid parameters), each flagged
        exposure is drizzled onto the mosaic right away with the pixel map of
        its blot: one read and one pixel map fewer per exposure, the same
        arrays drizzled in the same order. Its time is reported as resample's.
        """
        from gpucal.resample.mosaic import MosaicBuilder

        outlier, resample = steps["outlier_detection"], steps["resample"]
        if outlier.skip or resample.skip or resample.single or len(library) < 2:
            return None
        if (
            resample.output_wcs
            or any(
                getattr(resample, name) is not None
                for name in ("output_shape", "crpix", "crval", "rotation", "pixel_scale")
            )
            or resample.pixel_scale_ratio != 1.0
        ):
            return None
        return MosaicBuilder(resample, library, ctx.device)

    def _resample(self, step, library, ctx):
        """The mosaic (jwst's ResampleStep on the library)."""
        from gpucal.resample.mosaic import resample_library

        if step.skip:
            log.info("resample: skipped")
            ctx.timings.append((step.alias, 0.0, "skipped"))
            return None
        if not step.blendheaders:
            log.info("resample: blendheaders off: the mosaic carries the first input's metadata and no HDRTAB")
        begin = time.perf_counter()
        builder = ctx.mosaic_builder
        if builder is not None and builder.n_added != len(library):
            builder = None  # not (entirely) fed by outlier detection: read every exposure
        fed, fed_adds = (0.0, 0.0) if builder is None else (builder.seconds, builder.add_seconds)
        with step_progress(step.alias, len(library)) as advance:
            mosaic = resample_library(step, library, ctx.device, allocator=_host_allocator(ctx.device),
                                      progress=advance, builder=builder)  # fmt: skip
        ctx.finalize(mosaic)
        elapsed = time.perf_counter() - begin + fed
        if fed:
            # The exposures were drizzled during outlier detection's flagging: move that time to resample.
            ctx.timings[:] = [(a, s - fed_adds if a == "outlier_detection" else s, st) for a, s, st in ctx.timings]
            log.info("resample: %d exposures drizzled while outlier_detection flagged them (%.3f s of its time)",
                     len(library), fed_adds)  # fmt: skip
        ctx.timings.append((step.alias, elapsed, "COMPLETE"))
        log.info("%-18s %-9s %8.3f s", step.alias, "COMPLETE", elapsed)
        return mosaic

    def _commit(self, library, mosaic, ctx):
        """Write the mosaic into the scratch folder, then rename every product into place."""
        staged = []
        if mosaic is not None:
            path = library.scratch / f"{ctx.product_name}_i2d.fits"
            write_exposure(mosaic, path)
            staged.append((path, self.output_dir / path.name))
        if not self.steps["outlier_detection"].skip:  # jwst saves the _crf products when the step ran
            for member in library:
                staged.append((member.path, library.crf_path(member, self.output_dir)))
        for path, name in ctx.intermediate:
            staged.append((path, self.output_dir / name))
        for path in getattr(ctx.catalog, "paths", None) or ():
            staged.append((path, self.output_dir / pathlib.Path(path).name))
        scratch = library.scratch.resolve()
        for source, _ in staged:
            if scratch not in pathlib.Path(source).resolve().parents:  # never move an input file
                raise GpucalError(f"internal error: {source} is not a staged product of this run")
        # All renamed into place or none (a failed rename is an OutputError naming the file); never over an input.
        written = commit_renames(staged, protect=[member.source for member in library])
        for target in written:
            log.info("wrote %s", target)
        return written


def check_inputs(library):
    """Refuse inputs image3 cannot combine, naming the file (jwst fails later and less clearly)."""
    first = library[0]
    config = _configuration(first)
    for member in library:
        meta = member.meta
        if len(member.shape) != 2:
            raise InputFileError(f"{member.source}: image3 takes 2-D _cal images; this one has shape {member.shape}")
        if member.wcs is None:
            raise InputFileError(f"{member.source}: no WCS (meta.wcs); run image2's assign_wcs first")
        exp_type = exp_type_of(meta)
        if exp_type in NIRSPEC_IMAGING_EXP_TYPES:
            raise InputFileError(
                f"{member.source}: EXP_TYPE {exp_type}: NIRSpec imaging-mode exposures end at calwebb_image2 "
                "(uncalibrated DN/s, no image3 stage in jwst's pipeline table)"
            )
        if str(meta.cal_step.photom or "").upper() != "COMPLETE":
            raise InputFileError(
                f"{member.source}: photom has not been applied (S_PHOTOM={meta.cal_step.photom}); "
                "image3 takes calibrated _cal files, not _rate files"
            )
        if _configuration(member) != config:
            raise InputFileError(
                f"{member.source}: {'/'.join(map(str, _configuration(member)))} cannot be combined with "
                f"{first.source.name} ({'/'.join(map(str, config))}): one instrument, filter and pupil per image3 run"
            )


def _configuration(member):
    inst = member.meta.instrument
    return (str(inst.name or "").upper(), str(inst.filter or "").upper(), str(inst.pupil or "").upper())


def _host_allocator(device):
    """Read into registered pinned buffers for a GPU (uploaded without another copy), else plain numpy."""
    if device.uses_cupy:
        from gpucal.engine.pinned import pinned_empty

        return pinned_empty
    return None


def _is_device_oom(exc):
    """A CuPy allocation failure, or gpucal's own refusal of a grid the GPU cannot hold."""
    cupy_oom = type(exc).__name__ == "OutOfMemoryError" and type(exc).__module__.startswith("cupy")
    return cupy_oom or isinstance(exc, DeviceMemoryError)


def describe_parameters():
    """All step parameters with their defaults, as a jwst-style parameter dict (``--print-config``)."""
    pipeline = Image3Pipeline()
    return {
        "class": Image3Pipeline.jwst_class, "name": "Image3Pipeline",
        "parameters": {"save_results": False, "output_dir": None, "in_memory": True},
        "steps": [{"class": s.jwst_class, "name": a, "parameters": s.to_dict()} for a, s in pipeline.steps.items()],
    }  # fmt: skip
