"""Connecting to a Dask cluster: an existing scheduler, a local cluster, or one worker per GPU.

gpucal does not schedule work itself: Dask distributed does (retries, worker
loss, dashboards, job-queue clusters through dask-jobqueue). Workers are
long-lived, so each pays Python, asdf and kernel-loading start-up once and
then calibrates exposure after exposure.
"""

import logging

from gpucal.errors import ParameterError

__all__ = ["connect"]

log = logging.getLogger("gpucal")


def _require_distributed():
    try:
        import distributed
    except ImportError:
        raise ParameterError("the farm needs dask distributed: pip install gpucal[farm]") from None
    return distributed


def connect(scheduler=None, *, workers=None, threads_per_worker=1, gpus=False, processes=True):
    """A ``distributed.Client`` for gpucal work.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); also accepts a
        ``distributed.Client`` (returned as is).
    workers : int, optional
        Local workers to start when no scheduler is given (default: one per
        core, or one per GPU with ``gpus``).
    threads_per_worker : int
        Threads per local worker (numba parallelises inside each task).
    gpus : bool
        Start one worker per GPU with dask-cuda's ``LocalCUDACluster``.
    processes : bool
        Local workers as processes (default) or threads.

    Returns
    -------
    distributed.Client
    """
    distributed = _require_distributed()
    if isinstance(scheduler, distributed.Client):
        return scheduler
    if scheduler:
        log.info("farm: connecting to %s", scheduler)
        return distributed.Client(scheduler)
    if gpus:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            raise ParameterError("--gpus needs dask-cuda: pip install gpucal[farm]") from None
        cluster = LocalCUDACluster(n_workers=workers, threads_per_worker=threads_per_worker)
    else:
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=threads_per_worker, processes=processes
        )
    log.info("farm: local cluster %s", cluster)
    return distributed.Client(cluster)
