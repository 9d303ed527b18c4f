"""image2 and image3 over many inputs on a Dask cluster, one task per input.

Each task runs one pipeline on one input (image2: a ``_rate`` file or image2
association; image3: an image3 association) with a pipeline object that the
worker keeps between tasks (compiled kernels, reference caches and, on a GPU
worker, the CUDA context stay warm). A failed input is reported with its error
and the others go on; nothing already written is touched.
"""

import dataclasses
import functools
import importlib
import logging
import pathlib
import time

__all__ = ["FarmTask", "run_image2_many", "run_image3_many", "run_many"]

log = logging.getLogger("gpucal")

#: Pipelines a farm can run: name -> (module, class).
PIPELINES = {
    "image2": ("gpucal.pipelines.image2", "Image2Pipeline"),
    "image3": ("gpucal.pipelines.image3", "Image3Pipeline"),
}
_PIPELINES = {}


@dataclasses.dataclass
class FarmTask:
    """The outcome of one input: what was written, how long it took, or why it failed."""

    input: str
    ok: bool
    written: list
    seconds: float
    timings: list
    error: str = ""
    worker: str = ""


def _pipeline_class(name):
    module, cls = PIPELINES[name]
    return getattr(importlib.import_module(module), cls)


def _pipeline(name, options):
    """The worker's pipeline for these options (built once per worker process)."""
    key = (name, repr(sorted(options.items(), key=lambda kv: kv[0])))
    if key not in _PIPELINES:
        _PIPELINES[key] = _pipeline_class(name)(**options)
    return _PIPELINES[key]


def _outcome(result):
    """(written paths, timings) of an image2 result (a list of exposures) or an image3 result."""
    parts = result if isinstance(result, list) else [result]
    written = [str(p) for r in parts for p in getattr(r, "written", [])]
    timings = [t for r in parts for t in getattr(r, "timings", [])]
    return written, timings


def _process(path, name, options):
    """Run in a worker: process one input, never raise (the failure is the result)."""
    import os
    import socket

    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        result = _pipeline(name, options).run(path)
    except Exception as exc:  # one bad input must not stop the farm
        error = f"{exc.__class__.__name__}: {exc}"
        return FarmTask(str(path), False, [], time.perf_counter() - start, [], error, worker)
    written, timings = _outcome(result)
    return FarmTask(str(path), True, written, time.perf_counter() - start, timings, "", worker)


def run_many(pipeline, inputs, *, client=None, output_dir=".", steps=None, device="auto", require_gpu=None,
             ref_dir=None, config_file=None, retries=0):  # fmt: skip
    """Run ``pipeline`` ("image2" or "image3") over many inputs in parallel on Dask.

    Parameters
    ----------
    pipeline : {"image2", "image3"}
    inputs : iterable of str or os.PathLike
        image2: ``_rate``/``_rateints`` files or image2 associations; image3: image3 associations.
    client : distributed.Client, optional
        Default: :func:`gpucal.farm.connect` with a local cluster.
    output_dir, steps, device, require_gpu, ref_dir, config_file
        As for the pipeline class; outputs are saved.
    retries : int
        Times Dask retries a task whose worker died.

    Returns
    -------
    list of FarmTask
        In input order.
    """
    from gpucal.farm.cluster import connect

    if pipeline not in PIPELINES:
        from gpucal.errors import ParameterError

        raise ParameterError(f"farm: unknown pipeline {pipeline!r} (one of {', '.join(PIPELINES)})")
    client = client or connect()
    options = {
        "steps": steps or {}, "device": device, "require_gpu": require_gpu, "save_results": True,
        "output_dir": str(pathlib.Path(output_dir).resolve()), "ref_dir": None if ref_dir is None else str(ref_dir),
        "config_file": None if config_file is None else str(config_file),
    }  # fmt: skip
    if pipeline == "image2":
        options["keep_arrays"] = False  # a worker's memory stays flat however many exposures an input holds
    # Fail fast on bad parameters, before any task is sent.
    _pipeline_class(pipeline)(**{**options, "device": "cpu", "require_gpu": False})
    paths = [str(pathlib.Path(p).resolve()) for p in inputs]
    futures = client.map(_process, paths, name=pipeline, options=options, pure=False, retries=retries)
    results = client.gather(futures)
    failed = [r for r in results if not r.ok]
    log.info("farm: %d of %d inputs processed, %d failed", len(results) - len(failed), len(results), len(failed))
    return results


run_image2_many = functools.partial(run_many, "image2")
run_image2_many.__doc__ = "Calibrate many ``_rate`` files or image2 associations on Dask (see :func:`run_many`)."
run_image3_many = functools.partial(run_many, "image3")
run_image3_many.__doc__ = "Run image3 on many image3 associations on Dask, one task each (see :func:`run_many`)."
