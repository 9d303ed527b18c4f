"""Farms on batch systems (Slurm, PBS, SGE, LSF, HTCondor) through dask-jobqueue.

``gpucal farm image2 ... --cluster slurm --cores 16 --memory 64GB --jobs 8``
submits 8 batch jobs, each running Dask workers that connect back to a
scheduler in the farm process, exactly as ``SLURMCluster(cores=16,
memory="64GB").scale(jobs=8)`` would. Queue, account, walltime and every other
dask-jobqueue setting come from dask's configuration, as dask-jobqueue users
keep them: ``~/.config/dask/jobqueue.yaml``, or a file in the same format
given with ``--cluster-config``::

    jobqueue:
      slurm:
        cores: 16
        memory: 64GB
        queue: normal
        account: myproject
        walltime: "02:00:00"

Command-line ``--cores``/``--memory`` win over the file. dask-jobqueue runs
``cores`` single-task threads per job, so each task gets one numba/BLAS thread
(exported in the job script) unless ``threads`` says otherwise.
dask-jobqueue is optional: without it ``--cluster`` is a clear error.
"""

import logging
import pathlib

from gpucal.errors import ParameterError
from gpucal.farm.cluster import thread_environment

__all__ = ["BATCH_SYSTEMS", "batch_cluster_spec", "load_cluster_config", "start_batch_cluster"]

log = logging.getLogger("gpucal")

#: ``--cluster`` name -> dask-jobqueue class.
BATCH_SYSTEMS = {
    "slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster",
    "htcondor": "HTCondorCluster",
}  # fmt: skip


def load_cluster_config(path):
    """Read a dask-jobqueue configuration file (``jobqueue: {slurm: {...}}``), as a dict.

    Raises
    ------
    ParameterError
        Unreadable YAML, or no ``jobqueue`` section.
    """
    import yaml

    path = pathlib.Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParameterError(f"--cluster-config: {path}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())
        raise ParameterError(f"--cluster-config: {path}: unreadable ({exc.__class__.__name__}: {reason})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobqueue"), dict):
        raise ParameterError(f"--cluster-config: {path}: expected dask-jobqueue's format (a 'jobqueue:' mapping)")
    for kind, section in doc["jobqueue"].items():
        if not isinstance(section, dict):
            raise ParameterError(f"--cluster-config: {path}: 'jobqueue.{kind}' must be a mapping")
    return doc


def batch_cluster_spec(kind, *, cores=None, memory=None, threads=1, config=None):
    """The dask-jobqueue class name and keyword arguments for a farm (a pure function: no batch system needed).

    Parameters
    ----------
    kind : str
        ``--cluster``: one of :data:`BATCH_SYSTEMS`. With a ``config`` that has a
        single batch-system section, None picks that one.
    cores : int, optional
        Cores per job (default: the configuration's).
    memory : str, optional
        Memory per job, e.g. ``"64GB"`` (default: the configuration's).
    threads : int
        Numba/BLAS threads of each task, exported in the job script.
    config : dict, optional
        A loaded ``--cluster-config`` (see :func:`load_cluster_config`).

    Returns
    -------
    class_name : str
    kwargs : dict
    """
    sections = (config or {}).get("jobqueue", {})
    if kind is None:
        known = [k for k in sections if k in BATCH_SYSTEMS]
        if len(known) != 1:
            raise ParameterError("--cluster: say which batch system (" + ", ".join(BATCH_SYSTEMS) + ")")
        kind = known[0]
    if kind not in BATCH_SYSTEMS:
        raise ParameterError(f"--cluster {kind!r}: not one of {', '.join(BATCH_SYSTEMS)}")
    kwargs = {}
    if cores is not None:
        if int(cores) < 1:
            raise ParameterError(f"--cores {cores}: must be at least 1")
        kwargs["cores"] = int(cores)
    if memory is not None:
        from dask.utils import parse_bytes

        try:
            if parse_bytes(memory) <= 0:
                raise ValueError("not positive")
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"--memory {memory!r}: not an amount of memory such as 16GB ({exc})") from None
        kwargs["memory"] = str(memory)
    prologue = sections.get(kind, {}).get("job-script-prologue")
    if prologue is None:
        import dask

        prologue = dask.config.get(f"jobqueue.{kind}.job-script-prologue", default=None) or []
    exports = [f"export {name}={value}" for name, value in thread_environment(threads).items()]
    kwargs["job_script_prologue"] = [*prologue, *exports]
    return BATCH_SYSTEMS[kind], kwargs


def start_batch_cluster(kind, *, jobs=1, cores=None, memory=None, threads=1, config_path=None):
    """Start a dask-jobqueue cluster and ask the batch system for ``jobs`` jobs.

    A ``config_path`` is merged into this process's dask configuration, where
    dask-jobqueue reads its defaults (also when it submits more jobs later).

    Returns
    -------
    dask_jobqueue.JobQueueCluster
    """
    if int(jobs) < 1:
        raise ParameterError(f"--jobs {jobs}: must be at least 1")
    try:
        import dask
        import dask_jobqueue
    except ImportError:
        raise ParameterError("--cluster needs dask-jobqueue: pip install gpucal[farm] (or dask-jobqueue)") from None
    config = None
    if config_path is not None:
        config = load_cluster_config(config_path)
        dask.config.update(dask.config.config, config, priority="new")
    class_name, kwargs = batch_cluster_spec(kind, cores=cores, memory=memory, threads=threads, config=config)
    try:
        cluster = getattr(dask_jobqueue, class_name)(**kwargs)
    except ValueError as exc:
        reason = " ".join(str(exc).split())
        raise ParameterError(
            f"{class_name}: {reason} (--cores and --memory set those; any other setting goes in a --cluster-config)"
        ) from None
    log.info("farm: %s, %d job(s); job script:\n%s", class_name, int(jobs), cluster.job_script())
    cluster.scale(jobs=int(jobs))
    return cluster
