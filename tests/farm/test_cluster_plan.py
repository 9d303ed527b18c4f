"""Cluster layout without a cluster: threads and GPUs per worker, and dask-jobqueue clusters."""

import sys

import pytest

from gpucal.errors import ParameterError
from gpucal.farm.cluster import (
    gpu_for_worker,
    plan_local_cluster,
    thread_environment,
    threads_per_worker,
    visible_gpu_ids,
)


@pytest.mark.parametrize(("cores", "workers", "expected"), [(16, 4, 4), (16, 16, 1), (16, 3, 5), (2, 8, 1), (8, 1, 8)])
def test_threads_per_worker_shares_the_cores(cores, workers, expected):
    """Not cores x workers threads: each worker gets its share (issue 9)."""
    assert threads_per_worker(cores, workers) == expected


def test_thread_environment_limits_numba_and_blas():
    assert thread_environment(3) == {
        "NUMBA_NUM_THREADS": "3", "OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3", "MKL_NUM_THREADS": "3",
    }  # fmt: skip


def test_gpus_round_robin():
    assert [gpu_for_worker(i, ["0", "1", "2"]) for i in range(5)] == ["0", "1", "2", "0", "1"]
    assert gpu_for_worker(3, []) is None


def test_visible_gpu_ids_name_the_machine_gpus():
    assert visible_gpu_ids(2) == ["0", "1"]
    assert visible_gpu_ids(2, "") == ["0", "1"]
    # This process sees GPUs 4 and 6 as 0 and 1: its workers must be given 4 and 6.
    assert visible_gpu_ids(2, "4,6") == ["4", "6"]
    assert visible_gpu_ids(1, "GPU-a1b2, GPU-c3d4") == ["GPU-a1b2"]


def test_auto_device_puts_one_worker_on_each_gpu():
    """``--device auto`` used to put every worker on cuda:0 (issue 9)."""
    plan = plan_local_cluster(cores=16, gpu_ids=["0", "1", "2", "3"], device="auto")
    assert plan.workers == 4 and plan.threads == 4 and plan.gpus == ("0", "1", "2", "3")
    assert [plan.worker_environment(i) for i in range(4)] == [{"CUDA_VISIBLE_DEVICES": g} for g in "0123"]
    plan = plan_local_cluster(workers=3, cores=12, gpu_ids=["5", "7"], device="cuda")
    assert plan.gpus == ("5", "7", "5") and plan.threads == 4


@pytest.mark.parametrize(("device", "workers"), [("cpu", 8), ("cuda:1", 1)])
def test_cpu_or_pinned_gpu_leaves_gpu_visibility_alone(device, workers):
    plan = plan_local_cluster(cores=8, gpu_ids=["0", "1"], device=device)
    assert plan.gpus == () and plan.worker_environment(0) == {}
    assert plan.workers == workers and plan.threads == 8 // workers


def test_without_gpus_one_worker_per_core():
    plan = plan_local_cluster(cores=6, gpu_ids=[], device="auto")
    assert (plan.workers, plan.threads, plan.gpus) == (6, 1, ())
    assert plan_local_cluster(workers=2, cores=6, device="cpu").threads == 3
    assert plan_local_cluster(workers=2, cores=6, device="cpu", threads=1).threads == 1


def test_local_cluster_spec_carries_threads_and_gpus():
    """What the worker processes are started with: one task each, their GPU, the thread limits before spawning."""
    pytest.importorskip("distributed")
    from gpucal.farm.cluster import local_cluster_spec

    plan = plan_local_cluster(workers=3, cores=12, gpu_ids=["0", "1"], device="auto")
    scheduler, workers, spawn = local_cluster_spec(plan)
    assert scheduler["options"]["host"] == "127.0.0.1"
    assert [w["options"]["env"] for w in workers.values()] == [
        {"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "1"}, {"CUDA_VISIBLE_DEVICES": "0"},
    ]  # fmt: skip
    assert all(w["options"]["nthreads"] == 1 and w["cls"].__name__ == "Nanny" for w in workers.values())
    assert spawn["NUMBA_NUM_THREADS"] == spawn["OMP_NUM_THREADS"] == spawn["OPENBLAS_NUM_THREADS"] == "4"


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_must_be_positive(workers):
    with pytest.raises(ParameterError, match="--workers"):
        plan_local_cluster(workers=workers, cores=4)


def test_bad_device_is_a_parameter_error():
    with pytest.raises(ParameterError, match="device"):
        plan_local_cluster(cores=4, device="gpu0")


# -- dask-jobqueue ------------------------------------------------------------------------------------------------


def test_batch_spec_from_the_command_line():
    from gpucal.farm.jobqueue import batch_cluster_spec

    name, kwargs = batch_cluster_spec("slurm", cores=16, memory="64GB")
    assert name == "SLURMCluster"
    assert kwargs["cores"] == 16 and kwargs["memory"] == "64GB"
    assert "export NUMBA_NUM_THREADS=1" in kwargs["job_script_prologue"]
    assert batch_cluster_spec("htcondor", cores=4, memory="8GB")[0] == "HTCondorCluster"
    assert batch_cluster_spec("pbs")[1].keys() == {"job_script_prologue"}  # cores and memory from dask's config


def test_batch_spec_keeps_the_config_prologue_and_picks_its_only_system():
    from gpucal.farm.jobqueue import batch_cluster_spec

    config = {"jobqueue": {"sge": {"cores": 8, "job-script-prologue": ["module load cuda"]}}}
    name, kwargs = batch_cluster_spec(None, config=config, threads=2)
    assert name == "SGECluster"
    assert kwargs["job_script_prologue"][0] == "module load cuda"
    assert "export OMP_NUM_THREADS=2" in kwargs["job_script_prologue"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "torque"}, "not one of"),
        ({"kind": "slurm", "cores": 0}, "--cores"),
        ({"kind": "slurm", "memory": "lots"}, "--memory"),
        ({"kind": "slurm", "memory": "0GB"}, "--memory"),
        ({"kind": None}, "say which batch system"),
    ],
)
def test_batch_spec_rejects(kwargs, match):
    from gpucal.farm.jobqueue import batch_cluster_spec

    with pytest.raises(ParameterError, match=match):
        batch_cluster_spec(**kwargs)


@pytest.fixture
def dask_config():
    """dask's configuration restored after the test (a --cluster-config is merged into it)."""
    import copy

    import dask

    saved = copy.deepcopy(dask.config.config)
    yield
    dask.config.config.clear()
    dask.config.config.update(saved)


def test_slurm_cluster_is_built_as_dask_jobqueue_users_expect(tmp_path, monkeypatch, dask_config):
    """start_batch_cluster builds the real SLURMCluster: its job script asks for the cores and memory given and
    the queue and walltime of the config file, then asks for the jobs (recorded here instead of calling sbatch)."""
    dask_jobqueue = pytest.importorskip("dask_jobqueue")
    from gpucal.farm.jobqueue import start_batch_cluster

    config = tmp_path / "jobqueue.yaml"
    config.write_text(
        "jobqueue:\n  slurm:\n    queue: short\n    walltime: '01:00:00'\n"
        "    scheduler-options: {host: 127.0.0.1, dashboard_address: '127.0.0.1:0'}\n"
    )
    scaled = []
    monkeypatch.setattr(dask_jobqueue.SLURMCluster, "scale", lambda self, n=None, jobs=0, **kw: scaled.append(jobs))
    cluster = start_batch_cluster("slurm", jobs=3, cores=4, memory="8GB", config_path=config)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert type(cluster).__name__ == "SLURMCluster" and scaled[0] == 3  # (closing scales to 0)
    assert "#SBATCH --cpus-per-task=4" in script and "#SBATCH --mem=8G" in script
    assert "#SBATCH -p short" in script and "#SBATCH -t 01:00:00" in script  # from the config file
    assert "export NUMBA_NUM_THREADS=1" in script and "tcp://127.0.0.1:" in script


def test_missing_dask_jobqueue_is_a_clear_error(monkeypatch):
    from gpucal.farm.jobqueue import start_batch_cluster

    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    with pytest.raises(ParameterError, match="needs dask-jobqueue"):
        start_batch_cluster("slurm", cores=4, memory="8GB")


@pytest.mark.parametrize(
    ("text", "match"),
    [("jobqueue: [1, 2]\n", "a 'jobqueue:' mapping"), ("slurm: {cores: 4}\n", "a 'jobqueue:' mapping"),
     ("jobqueue:\n  slurm: 5\n", "must be a mapping"), ("jobqueue: {slurm: {cores: 4}\n", "unreadable")],
)  # fmt: skip
def test_cluster_config_errors(tmp_path, text, match):
    from gpucal.farm.jobqueue import load_cluster_config

    path = tmp_path / "jq.yaml"
    path.write_text(text)
    with pytest.raises(ParameterError, match=match) as caught:
        load_cluster_config(path)
    assert "\n" not in str(caught.value)
