"""image2 over many exposures on a Dask cluster.

Each task calibrates one ``_rate`` file or image2 association with an
:class:`~gpucal.pipelines.image2.Image2Pipeline` that the worker keeps
between tasks (compiled kernels, reference caches and, on a GPU worker, the
CUDA context stay warm). A failed exposure is reported with its error and the
others go on; nothing already written is touched.
"""

import dataclasses
import logging
import pathlib
import time

__all__ = ["Image2Task", "run_image2_many"]

log = logging.getLogger("gpucal")

_PIPELINES = {}


@dataclasses.dataclass
class Image2Task:
    """The outcome of one exposure: what was written, how long it took, or why it failed."""

    input: str
    ok: bool
    written: list
    seconds: float
    timings: list
    error: str = ""
    worker: str = ""


def _pipeline(options):
    """The worker's pipeline for these options (built once per worker process)."""
    from gpucal.pipelines.image2 import Image2Pipeline

    key = repr(sorted(options.items(), key=lambda kv: kv[0]))
    if key not in _PIPELINES:
        _PIPELINES[key] = Image2Pipeline(**options)
    return _PIPELINES[key]


def _calibrate(path, options):
    """Run in a worker: calibrate one input, never raise (the failure is the result)."""
    import os
    import socket

    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        results = _pipeline(options).run(path)
    except Exception as exc:  # one bad exposure must not stop the farm
        return Image2Task(
            str(path), False, [], time.perf_counter() - start, [], f"{exc.__class__.__name__}: {exc}", worker
        )
    written = [str(p) for r in results for p in getattr(r, "written", [])]
    timings = [t for r in results for t in getattr(r, "timings", [])]
    return Image2Task(str(path), True, written, time.perf_counter() - start, timings, "", worker)


def run_image2_many(inputs, *, client=None, output_dir=".", steps=None, device="auto", require_gpu=None, ref_dir=None,
                    config_file=None, retries=0):  # fmt: skip
    """Calibrate many exposures (or image2 associations) in parallel on Dask.

    Parameters
    ----------
    inputs : iterable of str or os.PathLike
        ``_rate``/``_rateints`` files or image2 associations.
    client : distributed.Client, optional
        Default: :func:`gpucal.farm.connect` with a local cluster.
    output_dir, steps, device, require_gpu, ref_dir, config_file
        As for :class:`~gpucal.pipelines.image2.Image2Pipeline`; outputs are saved.
    retries : int
        Times Dask retries a task whose worker died.

    Returns
    -------
    list of Image2Task
        In input order.
    """
    from gpucal.farm.cluster import connect

    client = client or connect()
    options = {
        "steps": steps or {}, "device": device, "require_gpu": require_gpu, "save_results": True,
        "output_dir": str(pathlib.Path(output_dir).resolve()), "ref_dir": None if ref_dir is None else str(ref_dir),
        "config_file": None if config_file is None else str(config_file),
    }  # fmt: skip
    # Fail fast on bad parameters, before any task is sent.
    from gpucal.pipelines.image2 import Image2Pipeline

    Image2Pipeline(**{**options, "device": "cpu", "require_gpu": False})
    paths = [str(pathlib.Path(p).resolve()) for p in inputs]
    futures = client.map(_calibrate, paths, options=options, pure=False, retries=retries)
    results = client.gather(futures)
    failed = [r for r in results if not r.ok]
    log.info("farm: %d of %d inputs calibrated, %d failed", len(results) - len(failed), len(results), len(failed))
    return results
