"""image2 and image3 over many inputs on a Dask cluster, one task per input.

Each task runs one pipeline on one input (image2: a ``_rate`` file or image2
association; image3: an image3 association) with a pipeline object that the
worker keeps between tasks (compiled kernels, reference caches and, on a GPU
worker, the CUDA context stay warm). A failed input is reported with its error
and the others go on; nothing already written is touched.

Everything that can be checked without the cluster is checked before it
starts (:func:`prepare_farm`): the device, ``GPUCAL_REQUIRE_GPU``, the output
folder (by writing a file there), every step parameter and the parameter file,
retries and threads. Paths (inputs, output folder, ``ref_dir``, ``config_file``
and path-valued step parameters such as ``override_flat``) are made absolute
first, since workers run in other working folders, often on other machines.

A task whose worker dies is re-run by Dask on another worker (up to the
scheduler's ``distributed.scheduler.allowed-failures``, default 3). An input
whose task still fails, or fails with an unexpected error (not a bad input,
parameter, reference or output, which would only fail again), is submitted
again up to ``retries`` more times. Products are written atomically under
their final names, so a task killed half way leaves no partial product and a
re-run writes the same names (no duplicates).
"""

import dataclasses
import functools
import importlib
import logging
import os
import pathlib
import threading
import time
import uuid

from gpucal.errors import GpucalError, OutputError, ParameterError

__all__ = ["FarmPlan", "FarmTask", "execute_farm", "prepare_farm", "run_image2_many", "run_image3_many", "run_many"]

log = logging.getLogger("gpucal")

#: Pipelines a farm can run: name -> (module, class).
PIPELINES = {
    "image2": ("gpucal.pipelines.image2", "Image2Pipeline"),
    "image3": ("gpucal.pipelines.image3", "Image3Pipeline"),
}
#: Step parameters that name files or folders (besides every ``override_<reftype>``).
PATH_PARAMETERS = frozenset(
    {"output_dir", "user_supplied_flat", "output_wcs", "catfile", "abs_refcat", "skylist", "wfss_mask", "bkg_list"}
)
_PIPELINES = threading.local()


@dataclasses.dataclass
class FarmTask:
    """The outcome of one input: what was written, how long it took, or why it failed.

    ``status`` is ``ok``, ``failed`` or ``skipped`` (complete from an earlier run, ``--resume``);
    ``threads`` is the numba threads the task ran with (0 if no kernel ran); ``device`` where its
    kernels ran (with the worker's ``CUDA_VISIBLE_DEVICES`` on a GPU); ``retryable`` marks failures
    that another attempt might not repeat (a lost worker, an unexpected error).
    """

    input: str
    ok: bool
    written: list
    seconds: float
    timings: list
    error: str = ""
    worker: str = ""
    status: str = ""
    attempts: int = 1
    threads: int = 0
    retryable: bool = False
    device: str = ""

    def __post_init__(self):
        if not self.status:
            self.status = "ok" if self.ok else "failed"


def _pipeline_class(name):
    module, cls = PIPELINES[name]
    return getattr(importlib.import_module(module), cls)


def _pipeline(name, options):
    """The worker's pipeline for these options, built once per worker thread.

    Per thread, not per process: a worker with several threads runs tasks at the same time, and a
    pipeline object keeps per-run state.
    """
    cache = _PIPELINES.__dict__.setdefault("pipelines", {})
    key = (name, repr(sorted(options.items(), key=lambda kv: kv[0])))
    if key not in cache:
        cache[key] = _pipeline_class(name)(**options)
    return cache[key]


def _outcome(result):
    """(written paths, timings) of an image2 result (a list of exposures) or an image3 result."""
    parts = result if isinstance(result, list) else [result]
    written = [str(p) for r in parts for p in getattr(r, "written", [])]
    timings = [t for r in parts for t in getattr(r, "timings", [])]
    return written, timings


def _limit_threads(threads):
    """Cap this thread's numba parallelism (``numba.set_num_threads`` is per calling thread)."""
    if threads:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _threads_in_use():
    import sys

    numba = sys.modules.get("numba")
    return int(numba.get_num_threads()) if numba is not None else 0


def _process(path, name, options, threads=None):
    """Run in a worker: process one input, never raise (the failure is the result)."""
    import socket

    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    device = ""
    try:
        _limit_threads(threads)
        pipeline = _pipeline(name, options)
        device = _device_label(pipeline.device)
        result = pipeline.run(path)
    except Exception as exc:  # one bad input must not stop the farm
        error = f"{exc.__class__.__name__}: {exc}"
        retryable = not isinstance(exc, GpucalError)
        return FarmTask(str(path), False, [], time.perf_counter() - start, [], error, worker,
                        threads=_threads_in_use(), retryable=retryable, device=device)  # fmt: skip
    written, timings = _outcome(result)
    return FarmTask(str(path), True, written, time.perf_counter() - start, timings, "", worker,
                    threads=_threads_in_use(), device=device)  # fmt: skip


def _device_label(device):
    """``cpu``, or ``cuda:0 (CUDA_VISIBLE_DEVICES=3)`` on a worker that sees one GPU of several."""
    label = str(device)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if label.startswith("cuda") and visible:
        label += f" (CUDA_VISIBLE_DEVICES={visible})"
    return label


def _absolute(value, *, always=False):
    """A path-valued parameter made absolute; strings that name no file (e.g. ``GAIADR3``) stay as they are."""
    if isinstance(value, (list, tuple)):
        return [_absolute(v, always=always) for v in value]
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip() or value.strip().upper() == "N/A":
        return value
    path = pathlib.Path(value).expanduser()
    if path.is_absolute() or always or path.exists():
        return str(path.resolve())
    return value


def absolute_step_paths(steps):
    """``steps`` with every path-valued parameter (``override_*``, ``bkg_list``, ...) made absolute."""
    out = {}
    for step, params in (steps or {}).items():
        out[step] = {}
        for name, value in (params or {}).items():
            if name == "bkg_list" and isinstance(value, str):
                value = [part for part in value.replace(",", " ").split() if part]
            if name.startswith("override_") or name in PATH_PARAMETERS:
                value = _absolute(value, always=name == "output_dir" and value is not None)
            out[step][name] = value
    return out


def check_output_folder(folder):
    """Make ``folder`` if needed and prove it writable by creating and removing a file there.

    ``os.access`` is not enough: it says yes to root on a read-only file system.
    """
    import tempfile

    from gpucal.io.atomic import check_writable_dir

    folder = check_writable_dir(folder)
    try:
        fd, probe = tempfile.mkstemp(prefix=".gpucal-farm-", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{folder}: output folder is not writable ({exc.strerror or exc})") from None
    return folder


@dataclasses.dataclass
class FarmPlan:
    """A validated farm run: what to send to the workers, what to skip, where to report."""

    pipeline: str
    inputs: list
    options: dict
    report: object
    skip: dict
    retries: int = 0
    threads: int | None = None


def prepare_farm(pipeline, inputs, *, output_dir=".", steps=None, device="auto", require_gpu=None, ref_dir=None,
                 config_file=None, retries=0, threads=None, resume=False, report=None):  # fmt: skip
    """Check everything a farm run needs before any cluster starts.

    Parameters
    ----------
    pipeline : {"image2", "image3"}
    inputs : iterable of str or os.PathLike
    output_dir, steps, device, require_gpu, ref_dir, config_file
        As for the pipeline class; outputs are saved.
    retries : int
        Extra attempts for an input whose task failed in a way another attempt might not repeat.
    threads : int, optional
        Numba threads per task (default: as the workers were started).
    resume : bool
        Skip inputs whose products an earlier report lists and that read back complete.
    report : str or os.PathLike, optional
        A second place to write the JSON run report (it is always written to the output folder).

    Returns
    -------
    FarmPlan

    Raises
    ------
    ParameterError
        Unknown pipeline, bad device, bad ``GPUCAL_REQUIRE_GPU``, bad step parameter or parameter file,
        negative retries, threads below 1 (exit 2).
    OutputError
        The output folder or the report cannot be written (exit 6).
    """
    from gpucal.engine.device import parse_device, require_gpu_from_env
    from gpucal.farm.report import RunReport, default_report_path, fingerprint, resumable_inputs

    if pipeline not in PIPELINES:
        raise ParameterError(f"farm: unknown pipeline {pipeline!r} (one of {', '.join(PIPELINES)})")
    if int(retries) < 0:
        raise ParameterError(f"--retries {retries}: must be 0 or more")
    if threads is not None and int(threads) < 1:
        raise ParameterError(f"--threads {threads}: must be at least 1")
    parse_device(device)
    if require_gpu is None:
        require_gpu = require_gpu_from_env()  # decided here, once, for every worker
    output_dir = check_output_folder(pathlib.Path(output_dir).expanduser().resolve())
    options = {
        "steps": absolute_step_paths(steps), "device": str(device), "require_gpu": bool(require_gpu),
        "save_results": True, "output_dir": str(output_dir),
        "ref_dir": None if ref_dir is None else _absolute(ref_dir, always=True),
        "config_file": None if config_file is None else _absolute(config_file, always=True),
    }  # fmt: skip
    if pipeline == "image2":
        options["keep_arrays"] = False  # a worker's memory stays flat however many exposures an input holds
    # Bad step parameters or parameter files fail here, once, not in every task.
    _pipeline_class(pipeline)(**{**options, "device": "cpu", "require_gpu": False})
    paths = []
    for path in (str(pathlib.Path(p).expanduser().resolve()) for p in inputs):
        if path in paths:
            log.warning("farm: %s is given more than once; it runs once", path)
        else:
            paths.append(path)
    if not paths:
        raise ParameterError("farm: no inputs")
    report_paths = [default_report_path(output_dir, pipeline)]
    if report is not None:
        extra = pathlib.Path(report).expanduser().resolve()
        check_output_folder(extra.parent)
        if extra not in report_paths:
            report_paths.append(extra)
    digest = fingerprint(pipeline, options)
    skip = resumable_inputs(report_paths[0], paths, digest) if resume else {}
    plan = FarmPlan(pipeline, paths, options, RunReport(pipeline, paths, report_paths, digest), skip,
                    int(retries), None if threads is None else int(threads))  # fmt: skip
    return plan


def _key(pipeline, path, attempt):
    return f"gpucal-{pipeline}-{pathlib.Path(path).name}-{attempt}-{uuid.uuid4().hex[:8]}"


def _task_from(future, path, attempt):
    """The future's FarmTask; a task Dask could not finish (its workers died) becomes a retryable failure."""
    try:
        task = future.result()
    except Exception as exc:  # KilledWorker, CancelledError, a lost scheduler connection
        task = FarmTask(path, False, [], 0.0, [], f"{exc.__class__.__name__}: {' '.join(str(exc).split())}",
                        retryable=True)  # fmt: skip
    task.attempts = attempt
    return task


def execute_farm(plan, client, *, on_result=None):
    """Run a prepared farm on ``client``; write the report; return one FarmTask per input, in input order.

    ``on_result(task)`` is called as each input finishes (the command line prints a line).
    """
    from distributed import as_completed

    report = plan.report
    results = {}
    for path, products in plan.skip.items():
        task = FarmTask(path, True, products, 0.0, [], status="skipped", attempts=0)
        results[path] = task
        report.record(task)
        log.info("farm: %s is complete from an earlier run; skipped", path)
    todo = [p for p in plan.inputs if p not in results]

    def submit(path, attempt):
        future = client.submit(_process, path, plan.pipeline, plan.options, plan.threads, pure=False,
                               key=_key(plan.pipeline, path, attempt))  # fmt: skip
        pending[future] = (path, attempt)
        return future

    pending = {}
    try:
        queue = as_completed([submit(path, 1) for path in todo], loop=client.loop) if todo else ()
        for future in queue:
            path, attempt = pending.pop(future)
            task = _task_from(future, path, attempt)
            future.release()
            if not task.ok and task.retryable and attempt <= plan.retries:
                log.warning("farm: %s failed (%s); attempt %d of %d", path, task.error, attempt + 1, plan.retries + 1)
                queue.add(submit(path, attempt + 1))
                continue
            results[path] = task
            report.record(task)
            if on_result is not None:
                on_result(task)
    except BaseException:
        for future in pending:
            future.cancel()
        report.write()  # what finished is on record, the rest stays "pending"
        raise
    report.write(final=True)
    ordered = [results[p] for p in plan.inputs]
    failed = sum(not t.ok for t in ordered)
    log.info("farm: %d of %d inputs processed, %d failed", len(ordered) - failed, len(ordered), failed)
    return ordered


def run_many(pipeline, inputs, *, client=None, output_dir=".", steps=None, device="auto", require_gpu=None,
             ref_dir=None, config_file=None, retries=0, threads=None, resume=False, report=None):  # fmt: skip
    """Run ``pipeline`` ("image2" or "image3") over many inputs in parallel on Dask.

    Parameters
    ----------
    pipeline : {"image2", "image3"}
    inputs : iterable of str or os.PathLike
        image2: ``_rate``/``_rateints`` files or image2 associations; image3: image3 associations.
    client : distributed.Client, optional
        Default: :func:`gpucal.farm.connect` with a local cluster (closed at the end).
    output_dir, steps, device, require_gpu, ref_dir, config_file, retries, threads, resume, report
        See :func:`prepare_farm`.

    Returns
    -------
    list of FarmTask
        In input order (each input once).
    """
    from gpucal.farm.cluster import connect

    plan = prepare_farm(
        pipeline, inputs, output_dir=output_dir, steps=steps, device=device, require_gpu=require_gpu,
        ref_dir=ref_dir, config_file=config_file, retries=retries, threads=threads, resume=resume, report=report,
    )  # fmt: skip
    own = client is None
    client = client or connect(device=device, threads=threads)
    try:
        return execute_farm(plan, client)
    finally:
        if own:
            client.close()


run_image2_many = functools.partial(run_many, "image2")
run_image2_many.__doc__ = "Calibrate many ``_rate`` files or image2 associations on Dask (see :func:`run_many`)."
run_image3_many = functools.partial(run_many, "image3")
run_image3_many.__doc__ = "Run image3 on many image3 associations on Dask, one task each (see :func:`run_many`)."
