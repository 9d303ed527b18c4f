"""Connecting to a Dask cluster: a running scheduler, a local cluster, one worker per GPU, or a batch system.

gpucal does not schedule work itself: Dask distributed does (worker loss,
dashboards, batch-system clusters through dask-jobqueue, see
:mod:`gpucal.farm.jobqueue`). Workers are long-lived, so each pays Python,
asdf and kernel-loading start-up once and then calibrates input after input.

Threads. Every task's kernels are parallel (numba), so a node's cores are
shared out rather than multiplied: a local cluster of ``W`` workers on ``C``
cores runs one task at a time per worker with ``max(1, C // W)`` numba and
BLAS threads (``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` set before each worker process
starts). Without that, every worker's numba would use all cores (``C x W``
threads). On workers gpucal did not start (``--scheduler``), ``threads`` caps
each task's numba threads with ``numba.set_num_threads``.

GPUs. A local cluster on a machine with ``G`` usable GPUs runs one worker per
GPU by default, worker ``i`` seeing only GPU ``i mod G`` (its
``CUDA_VISIBLE_DEVICES``), so ``--device auto`` or ``cuda`` puts each worker on
its own GPU instead of all of them on ``cuda:0``. An explicit ``cuda:N`` keeps
every worker on GPU ``N``. ``gpus=True`` uses dask-cuda's ``LocalCUDACluster``
instead (same one-GPU-per-worker layout, plus dask-cuda's memory management).
"""

import dataclasses
import logging
import os

from gpucal.errors import GpucalError, ParameterError

__all__ = [
    "LocalPlan",
    "connect",
    "gpu_for_worker",
    "local_cluster_spec",
    "plan_local_cluster",
    "thread_environment",
    "threads_per_worker",
    "visible_gpu_ids",
]

log = logging.getLogger("gpucal")

#: Seconds to wait for a scheduler to answer before giving up (``--connect-timeout``).
CONNECT_TIMEOUT = 10.0


def require_distributed():
    """Import dask distributed, or explain how to install it."""
    try:
        import distributed
    except ImportError:
        raise ParameterError("the farm needs dask distributed: pip install gpucal[farm]") from None
    return distributed


def available_cores():
    """Cores this process may use (CPU affinity and cgroup quotas respected, as Dask counts them)."""
    try:
        from dask.system import CPU_COUNT

        return int(CPU_COUNT)
    except ImportError:  # pragma: no cover - dask comes with distributed
        return os.cpu_count() or 1


def threads_per_worker(cores, workers):
    """Numba/BLAS threads for each of ``workers`` single-task workers sharing ``cores`` cores (at least 1)."""
    return max(1, int(cores) // max(1, int(workers)))


def thread_environment(threads):
    """Environment that limits numba and the BLAS libraries of one worker process to ``threads`` threads."""
    value = str(int(threads))
    return {name: value for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def visible_gpu_ids(count, visible=None):
    """The ``CUDA_VISIBLE_DEVICES`` value naming each of this process's ``count`` GPUs.

    Parameters
    ----------
    count : int
        GPUs this process sees (numbered 0..count-1 inside it).
    visible : str, optional
        This process's own ``CUDA_VISIBLE_DEVICES`` (unset: the GPUs are the machine's 0..count-1).
        A worker must be given the *machine's* id (or UUID), not this process's index.
    """
    if visible is None or not visible.strip():
        return [str(i) for i in range(count)]
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    return ids[:count]


def gpu_for_worker(index, gpu_ids):
    """The GPU of worker ``index``: round robin over ``gpu_ids`` (None when there is no GPU)."""
    if not gpu_ids:
        return None
    return gpu_ids[index % len(gpu_ids)]


@dataclasses.dataclass(frozen=True)
class LocalPlan:
    """How a local cluster is laid out: workers, threads per worker, and each worker's GPU (or None)."""

    workers: int
    threads: int
    gpus: tuple

    def worker_environment(self, index):
        """Environment variables of worker ``index`` (its GPU; the thread limits are set before spawning)."""
        gpu = self.gpus[index] if self.gpus else None
        return {} if gpu is None else {"CUDA_VISIBLE_DEVICES": gpu}


def plan_local_cluster(*, workers=None, cores, gpu_ids=(), device="auto", threads=None):
    """Lay out a local cluster (a pure function: no GPU or cluster needed to test it).

    Parameters
    ----------
    workers : int, optional
        Worker processes; default one per GPU when GPUs are spread over the workers, one for an
        explicit ``cuda:N``, else one per core.
    cores : int
        Cores to share between the workers.
    gpu_ids : sequence of str
        ``CUDA_VISIBLE_DEVICES`` ids of the usable GPUs (see :func:`visible_gpu_ids`).
    device : str
        The farm's ``--device``: ``cpu`` and ``cuda:N`` leave GPU visibility alone;
        ``auto`` and ``cuda`` give each worker one GPU, round robin.
    threads : int, optional
        Numba/BLAS threads per worker (default ``cores // workers``).

    Returns
    -------
    LocalPlan
    """
    from gpucal.engine.device import parse_device

    kind, index = parse_device(device)
    spread = kind in ("auto", "cuda") and index is None and len(gpu_ids) > 0
    if workers is None:
        pinned = kind == "cuda" and index is not None  # one GPU for every worker: one worker unless asked
        workers = len(gpu_ids) if spread else 1 if pinned else cores
    if workers < 1:
        raise ParameterError(f"--workers {workers}: must be at least 1")
    threads = threads_per_worker(cores, workers) if threads is None else threads
    gpus = tuple(gpu_for_worker(i, list(gpu_ids)) for i in range(workers)) if spread else ()
    return LocalPlan(workers, threads, gpus)


def usable_gpu_ids(device):
    """``CUDA_VISIBLE_DEVICES`` ids of the real GPUs this machine can give workers ([] for ``cpu``)."""
    from gpucal.engine.device import cuda_status, parse_device

    kind, _ = parse_device(device)
    if kind == "cpu":
        return []
    status = cuda_status()
    if not status.usable or status.simulated:
        return []
    return visible_gpu_ids(len(status.gpus), os.environ.get("CUDA_VISIBLE_DEVICES"))


def connect(
    scheduler=None, *, workers=None, gpus=False, processes=True, device="auto", threads=None,
    connect_timeout=CONNECT_TIMEOUT, cluster=None, owned=False,
):  # fmt: skip
    """A ``distributed.Client`` for gpucal work.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        Address of a running scheduler (``tcp://host:8786``), or a client (returned as is).
    workers : int, optional
        Local workers to start when no scheduler is given (see :func:`plan_local_cluster`).
    gpus : bool
        Start one worker per GPU with dask-cuda's ``LocalCUDACluster``.
    processes : bool
        Local workers as processes (default) or as threads of this process (tests; no thread limits).
    device : str
        The farm's device, which decides whether local workers get one GPU each.
    threads : int, optional
        Numba/BLAS threads per local worker (default: cores // workers).
    connect_timeout : float
        Seconds to wait for ``scheduler`` to answer.
    cluster : distributed.deploy.Cluster, optional
        A cluster already started (e.g. by :func:`gpucal.farm.jobqueue.start_batch_cluster`).
    owned : bool
        Close ``cluster`` when the client is closed.

    Returns
    -------
    distributed.Client
        Closing it also closes a cluster this function started.

    Raises
    ------
    GpucalError
        The scheduler does not answer (exit code 1).
    ParameterError
        A malformed address, or bad worker settings.
    """
    distributed = require_distributed()
    if isinstance(scheduler, distributed.Client):
        return scheduler
    if cluster is not None:
        return _client_owning(distributed, cluster) if owned else distributed.Client(cluster, set_as_default=False)
    if scheduler:
        return _connect_scheduler(distributed, scheduler, connect_timeout)
    if gpus:
        return _dask_cuda_client(distributed, workers, threads)
    plan = plan_local_cluster(
        workers=workers, cores=available_cores(), gpu_ids=usable_gpu_ids(device) if processes else [], device=device,
        threads=threads,
    )  # fmt: skip
    if not processes:
        local = distributed.LocalCluster(
            n_workers=plan.workers, threads_per_worker=1, processes=False, dashboard_address=None
        )
        return _client_owning(distributed, local)
    return _client_owning(distributed, _local_process_cluster(distributed, plan))


def _connect_scheduler(distributed, address, timeout):
    log.info("farm: connecting to the Dask scheduler at %s", address)
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except ValueError as exc:
        raise ParameterError(f"--scheduler {address!r}: not a scheduler address ({exc})") from None
    except (OSError, TimeoutError) as exc:
        reason = "no answer" if "Timed out" in str(exc) else " ".join(str(exc).split())
        raise GpucalError(
            f"farm: cannot reach the Dask scheduler at {address} ({reason} within {timeout:g} s)"
        ) from None


def _client_owning(distributed, cluster):
    """A client that closes ``cluster`` when it is closed."""
    client = distributed.Client(cluster, set_as_default=False)
    close = client.close

    def close_both(*args, **kwargs):
        try:
            return close(*args, **kwargs)
        finally:
            cluster.close()

    client.close = close_both
    return client


def local_cluster_spec(plan, *, memory_limit="auto"):
    """The scheduler and worker specs of a local cluster, and the environment its workers spawn with.

    A pure function of the plan (nothing starts), so the layout can be checked without a cluster.

    Returns
    -------
    scheduler : dict
        ``{"cls": Scheduler, "options": {...}}`` on 127.0.0.1.
    workers : dict
        ``{index: {"cls": Nanny, "options": {...}}}``, one single-task worker each, with its GPU in ``env``.
    spawn_environment : dict
        Dask's ``distributed.nanny.pre-spawn-environ`` plus the thread limits: set before each worker
        process starts, as numba and the BLAS libraries read them when they load.
    """
    import dask
    import distributed

    scheduler = {"cls": distributed.Scheduler, "options": {"host": "127.0.0.1", "port": 0, "dashboard_address": ":0"}}
    workers = {
        i: {"cls": distributed.Nanny, "options": {
            "nthreads": 1, "host": "127.0.0.1", "memory_limit": memory_limit, "env": plan.worker_environment(i),
            "silence_logs": logging.WARNING,
        }}
        for i in range(plan.workers)
    }  # fmt: skip
    spawn = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **thread_environment(plan.threads)}
    return scheduler, workers, spawn


def _local_process_cluster(distributed, plan):
    """Worker processes with the plan's thread limits (set before they spawn) and GPUs."""
    import dask
    from distributed.worker_memory import parse_memory_limit

    memory = parse_memory_limit("auto", 1, plan.workers, logger=log)  # the machine's memory shared out
    scheduler, workers, spawn = local_cluster_spec(plan, memory_limit=memory)
    # Nannies read the pre-spawn environment when they are created and apply it at every (re)spawn.
    with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn}):
        cluster = distributed.SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.WARNING,
                                          name="gpucal")  # fmt: skip
    gpus = f", GPUs {', '.join(plan.gpus)}" if plan.gpus else ""
    log.info("farm: %d local workers, %d thread(s) each%s; dashboard %s", plan.workers, plan.threads, gpus,
             cluster.dashboard_link)  # fmt: skip
    return cluster


def _dask_cuda_client(distributed, workers, threads):
    try:
        import dask
        from dask_cuda import LocalCUDACluster
    except ImportError:
        raise ParameterError("--gpus needs dask-cuda: pip install gpucal[farm]") from None
    count = workers
    if count is None:
        count = max(1, len(usable_gpu_ids("cuda")))
    threads = threads_per_worker(available_cores(), count) if threads is None else threads
    spawn_env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **thread_environment(threads)}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_env}):
        cluster = LocalCUDACluster(n_workers=workers, threads_per_worker=1)
    log.info("farm: dask-cuda cluster %s, %d thread(s) per worker", cluster, threads)
    return _client_owning(distributed, cluster)
