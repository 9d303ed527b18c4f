"""calwebb_image2 for imaging: bkg_subtract -> assign_wcs -> flat_field -> photom -> resample.

The science exposure is read once (into page-locked memory when the device is
a GPU), moved to the device once, calibrated there by every step, and brought
back once to be written as ``_cal`` (``_calints`` for a cube). Background
members of an image2 association feed bkg_subtract; resample makes the
``_i2d`` for 2-D imaging exposures. An exposure's products are written as one
set, renamed into place together, while the next exposure is calibrated
(:mod:`gpucal.pipelines.writer`); no output may replace an input of the run.
"""

import functools
import logging
import pathlib
import time
import typing
import warnings
from concurrent.futures import ThreadPoolExecutor

from gpucal.engine import select_device
from gpucal.errors import GpucalError, InputFileError, ParameterError
from gpucal.io.asn import read_asn
from gpucal.io.atomic import check_writable_dir, refuse_overwriting_inputs, remove_stale_temporaries
from gpucal.io.exposure import Exposure, read_exposure, read_metadata
from gpucal.io.naming import exposure_root
from gpucal.io.refs.select import reference_folder
from gpucal.pipelines.config import merge_step_params, read_parameter_file
from gpucal.pipelines.context import RunContext
from gpucal.pipelines.image2.assign_wcs import AssignWcsStep
from gpucal.pipelines.image2.bkg_subtract import BackgroundStep
from gpucal.pipelines.image2.defaults import image2_exposure_defaults
from gpucal.pipelines.image2.exp_types import RESAMPLED_EXP_TYPES, check_image2_exp_type
from gpucal.pipelines.image2.flat_field import FlatFieldStep
from gpucal.pipelines.image2.photom import PhotomStep
from gpucal.pipelines.resample import ResampleStep
from gpucal.pipelines.writer import ProductWriter

__all__ = ["Image2Pipeline", "describe_parameters"]

log = logging.getLogger("gpucal")
_UNSET = object()


def _host_allocator(device):
    """Read into registered pinned buffers for a GPU (uploaded without another copy), else plain numpy."""
    if device.uses_cupy:
        from gpucal.engine.pinned import pinned_empty

        return pinned_empty
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
    reapply_complete_steps : bool, optional
        Apply bkg_subtract, flat_field and photom even where the input records them as already
        applied (S_BKDSUB, S_FLAT, S_PHOTOM = COMPLETE, as in a ``_cal`` file). By default such a
        step is skipped with a warning and its keyword stays COMPLETE. jwst 3.0's image2 steps do
        not look at these keywords and apply the step again (flat and photom twice); jwst's only
        steps that skip work already recorded as done are master_background and
        master_background_mos, whose ``force_subtract`` this option mirrors.
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
    #: Exposure types that get an _i2d (jwst's ``image_exptypes``); see :mod:`gpucal.pipelines.image2.exp_types`.
    IMAGE_EXP_TYPES = RESAMPLED_EXP_TYPES

    def __init__(
        self, *, steps=None, save_results=_UNSET, save_bsub=_UNSET, output_dir=_UNSET, output_file=None,
        device="auto", require_gpu=None, ref_dir=None, config_file=None, keep_arrays=True,
        reapply_complete_steps=False,
    ):  # fmt: skip
        file_class, file_pipeline, file_steps = (
            ("", {}, {}) if config_file is None else read_parameter_file(config_file)
        )
        if file_class and "Image2Pipeline" not in file_class and "calwebb_image2" not in file_class:
            raise ParameterError(f"{config_file}: a parameter file for {file_class}, not for calwebb_image2")
        known = {"save_bsub", "save_results", "output_dir", "output_file", "skip", "suffix", "input_dir", "output_ext",
                 "output_use_model", "output_use_index", "search_output_file", "pre_hooks", "post_hooks", "class",
                 "name"}  # fmt: skip
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
        self.ref_dir = reference_folder(ref_dir)  # a missing --ref-dir / GPUCAL_REF_DIR fails now (exit 5)
        self.config_file = config_file
        self.keep_arrays = bool(keep_arrays)
        self.reapply_complete_steps = bool(reapply_complete_steps)
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
                backgrounds = [m.path for m in product.members_of("background")]
                yield _Product(product.name, science[0].path, backgrounds, asn.asn_pool, path.name)
        else:
            if not path.exists():
                raise InputFileError(f"{path}: no such file")
            # jwst records a lone exposure as its own "singleton" association.
            yield _Product(exposure_root(path.name), path, [], "singleton", "singleton")

    def _read_pixels(self, science):
        """The science arrays, read ahead on a background thread.

        Only the FITS data and headers: parsing the ASDF extension runs under
        ``warnings.catch_warnings``, whose process-wide save and restore would,
        off the pipeline thread, hide or leak the pipeline thread's warnings.
        """
        allocator = _host_allocator(self.device)
        return read_exposure(science, tree=False, **({"allocator": allocator} if allocator else {}))

    @staticmethod
    def _exposure(science, pixels):
        """The exposure as :func:`read_exposure` gives it: the pixels read ahead, the meta read here."""
        meta, _ = read_metadata(science)
        return Exposure(
            pixels.arrays, meta.meta_tree, model_type=meta.model_type, extra_fits=meta.extra_fits,
            tables=meta.tables, history=meta.history, path=pixels.path,
        )  # fmt: skip

    def run(self, input):
        """Calibrate every product of ``input``; returns the calibrated exposures.

        Before anything is computed, the outputs are checked: none may replace
        an input file of the run (:class:`~gpucal.errors.OutputError`), and
        temporaries that killed runs left for these products are removed.

        With several products (an association of a dither set), the next
        science exposure is read on a background thread while the current one
        is calibrated, and each exposure's product set (``_cal``, ``_bsub``,
        ``_i2d``) is written on another while the next is calibrated (at most
        one set pending). Each set is renamed into place as a whole
        (:class:`~gpucal.pipelines.writer.ProductWriter`). Every write has
        finished when this returns; a failed write is raised here, naming the file.
        """
        products = list(self._products(input))
        if len(products) > 1 and self.output_file is not None:
            log.warning("multiple products in the association; output_file is ignored")
            self.output_file = None
        inputs = self._inputs(input, products)
        self._prepare_outputs(products, inputs)
        start = time.perf_counter()
        results = []
        read = ThreadPoolExecutor(1, thread_name_prefix="gpucal-read")
        with ProductWriter(background=len(products) > 1) as writer, read as reader:
            upcoming = reader.submit(self._read_pixels, products[0].science)
            for k, product in enumerate(products):
                begin = time.perf_counter()
                exposure = self._exposure(product.science, upcoming.result())
                read_wait = time.perf_counter() - begin
                if k + 1 < len(products):
                    upcoming = reader.submit(self._read_pixels, products[k + 1].science)
                result, ctx = self._run_product(product, exposure, read_wait, writer)
                if ctx.products:  # the _cal with save_results; a step's own save_results also without it
                    done = functools.partial(self._committed, result)
                    ctx.write_products(tag=f"image2-{ctx.product_name}", protect=inputs, on_commit=done)
                results.append(result)
                del exposure, result, ctx
        _log_io_summary(results, writer, time.perf_counter() - start)
        return results

    def _committed(self, result, paths):
        """A product set is in place: record its paths and release the arrays (on the writing thread)."""
        result.written = list(paths)
        self._release(result)

    def _release(self, result):
        """Drop a written exposure's arrays and WCS unless the caller asked to keep them (memory flat in N).

        The gwcs (its distortion models) is about 1 MB a product; the light result keeps the keywords,
        the written paths and the timings.
        """
        if not self.keep_arrays:
            result.arrays = {}
            result.meta_tree.pop("wcs", None)
        return result

    def _inputs(self, input, products):
        """Every file the run reads, each with what it is: no output may replace one."""
        inputs = {}
        if pathlib.Path(input).suffix.lower() == ".json":
            inputs[pathlib.Path(input)] = "the association"
        for product in products:
            inputs[pathlib.Path(product.science)] = "a science exposure"
            for path in product.backgrounds:
                inputs[pathlib.Path(path)] = "a background exposure"
        steps = self.steps_for(None)
        for path in steps["bkg_subtract"].bkg_list or ():
            inputs.setdefault(pathlib.Path(path), "a background exposure")
        for alias, step in steps.items():
            for reftype, path in step.overrides.items():
                inputs.setdefault(pathlib.Path(path), f"the {reftype} reference of {alias}")
        if self.config_file is not None:
            inputs.setdefault(pathlib.Path(self.config_file), "the parameter file")
        return inputs

    def output_paths(self, root):
        """Every file a product named ``root`` may be written as (cube or not), with this configuration."""
        steps = self.steps_for(None)
        paths = []
        if self.save_results:
            paths += [self.output_dir / f"{root}_cal.fits", self.output_dir / f"{root}_calints.fits"]
            if not steps["resample"].skip:
                paths.append(self.output_dir / f"{root}_i2d.fits")
        for alias, step in steps.items():
            if alias == "resample" or not step.save_results:
                continue
            folder = pathlib.Path(step.output_dir or self.output_dir)
            suffixes = [step.suffix] if step.suffix else [alias]
            if alias == "bkg_subtract" and not step.suffix:
                suffixes = ["bsub", "bsubints"]
            paths += [folder / f"{step.output_file or root}_{suffix}.fits" for suffix in suffixes]
        if steps["bkg_subtract"].save_combined_background:
            paths.append(self.output_dir / f"{root}_combinedbackground.fits")
        return paths

    def _prepare_outputs(self, products, inputs):
        """Refuse outputs that would replace an input; remove stale temporaries of these products."""
        by_folder = {}
        for product in products:
            root = self.output_file or product.name
            for path in self.output_paths(root):
                names, tags = by_folder.setdefault(path.parent, (set(), set()))
                names.add(path.name)
                tags.add(f"image2-{root}")
        for folder in by_folder:
            check_writable_dir(folder)
        refuse_overwriting_inputs([f / n for f, (names, _) in by_folder.items() for n in names], inputs)
        for folder, (names, tags) in by_folder.items():
            for path in remove_stale_temporaries(folder, names, tags):
                log.warning("removed %s, left by an interrupted run", path)

    def _run_step(self, step, exposure, ctx, *args):
        """Run one step, unless the input says it was applied already (see ``reapply_complete_steps``)."""
        keyword = _APPLY_ONCE.get(step.alias)
        status = str(exposure.meta.cal_step.get(step.status_key) or "").upper()
        if keyword and not step.skip and status == "COMPLETE" and not self.reapply_complete_steps:
            source = exposure.path or exposure.meta.filename
            log.warning(
                "%s: skipped: %s is already COMPLETE in %s, so the step was applied before; gpucal does not apply it "
                "twice (jwst 3.0's calwebb_image2 would): pass reapply_complete_steps (--reapply-complete-steps) to "
                "apply it again", step.alias, keyword, source,
            )  # fmt: skip
            ctx.timings.append((step.alias, 0.0, "already COMPLETE"))
            return exposure
        return step.run(exposure, ctx, *args)

    def _run_product(self, product, exposure, read_wait=0.0, writer=None):
        """Calibrate one exposure; returns it (host arrays) and its context, whose ``products`` are to be written."""
        start = time.perf_counter()
        science = product.science
        log.info("calwebb_image2: %s on %s", science, self.device)
        # Before any step: a type image2 cannot calibrate here is one line naming the file (exit 4).
        check_image2_exp_type(exposure.meta, science)
        root = self.output_file or product.name
        ctx = RunContext(
            self.device, self.output_dir, root, ref_dir=self.ref_dir, backgrounds=list(product.backgrounds),
            asn_pool=product.pool, asn_table=product.table, writer=writer,
        )  # fmt: skip
        ctx.timings.append(("read_wait", read_wait, ""))
        steps = self.steps_for(exposure.meta)
        if product.pool is not None:
            exposure.meta.asn.pool_name = product.pool
            exposure.meta.asn.table_name = product.table
        try:
            exposure.to_device(self.device)
            if product.backgrounds:
                suffix = "bsubints" if exposure.is_cube else "bsub"
                step = steps["bkg_subtract"]
                step = step.replace(suffix=step.suffix or suffix)
                exposure = self._run_step(step, exposure, ctx, product.backgrounds)
            for alias in ("assign_wcs", "flat_field", "photom"):
                exposure = self._run_step(steps[alias], exposure, ctx)
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
            ctx.add_product(exposure, "calints" if exposure.is_cube else "cal")
        elapsed = time.perf_counter() - start
        summary = ", ".join(f"{alias} {seconds:.3f}s" for alias, seconds, _ in ctx.timings)
        log.info("calwebb_image2: %s done in %.3f s (%s)", root, elapsed, summary)
        exposure.timings = ctx.timings
        exposure.written = []
        return exposure, ctx


class _Product(typing.NamedTuple):
    """One image2 association product: its name (root of the outputs), members and ASN names."""

    name: str
    science: object
    backgrounds: list
    pool: str | None
    table: str | None


#: Steps whose work must not be done twice, with the keyword recording them (a ``_cal`` given as input).
_APPLY_ONCE = {"bkg_subtract": "S_BKDSUB", "flat_field": "S_FLAT", "photom": "S_PHOTOM"}


def _log_io_summary(results, writer, elapsed):
    """One line on where the I/O time went: reads and writes overlapped with computation, or waited for."""
    reads = sum(s for r in results for a, s, _ in r.timings if a == "read_wait")
    if writer.write_seconds:
        where = "background thread" if writer.background else "pipeline thread"
        hidden = max(0.0, writer.write_seconds - writer.wait_seconds)
        log.info(
            "calwebb_image2: %d product(s) in %.3f s; writing took %.3f s (%s), the pipeline waited %.3f s for it "
            "(%.3f s overlapped computation) and %.3f s for reads",
            len(results), elapsed, writer.write_seconds, where, writer.wait_seconds, hidden, reads,
        )  # fmt: skip


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
