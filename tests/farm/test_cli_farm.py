"""``gpucal farm`` arguments: every bad value fails up front, with its exit code, before any cluster starts."""

import socket

import pytest

from gpucal.cli import main
from tests.factories import write_small_rate

pytest.importorskip("distributed")


@pytest.fixture
def no_cluster(monkeypatch):
    """Fail the test if a cluster is started or a scheduler contacted."""
    import gpucal.farm.cluster as cluster

    def refuse(*args, **kwargs):
        raise AssertionError("a cluster was started before the arguments were checked")

    monkeypatch.setattr(cluster, "connect", refuse)


@pytest.fixture
def rate(tmp_path):
    return str(write_small_rate(tmp_path))


def _error(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("gpucal: error:")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        (["--workers", "0"], 2, "--workers 0: must be at least 1"),
        (["--workers", "-1"], 2, "--workers -1: must be at least 1"),
        (["--retries", "-1"], 2, "--retries -1"),
        (["--threads", "0"], 2, "--threads 0"),
        (["--connect-timeout", "0", "--scheduler", "tcp://127.0.0.1:1"], 2, "--connect-timeout"),
        (["--device", "gpu"], 2, "device: 'gpu'"),
        (["--device", "cuda:x"], 2, "device"),
        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], 2, "--workers does not apply"),
        (["--cluster", "slurm", "--gpus"], 2, "--gpus does not apply"),
        (["--cores", "4"], 2, "--cores only apply with --cluster"),
        (["--jobs", "0", "--cluster", "slurm"], 2, "--jobs 0"),
        (["--steps.flat_field.nosuch=1"], 2, "nosuch"),
        (["--steps.nostep.x=1"], 2, "unknown step"),
        (["--config", "absent.yaml"], 2, "no such file"),
    ],
)
def test_bad_arguments_fail_before_any_cluster(no_cluster, rate, tmp_path, capsys, options, code, message):
    assert main(["farm", "image2", rate, "--output-dir", str(tmp_path / "out"), *options]) == code
    assert message in _error(capsys)


def test_unwritable_output_folder_is_exit_6_up_front(no_cluster, rate, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["farm", "image2", rate, "--output-dir", str(blocker / "out")]) == 6
    assert str(blocker / "out") in _error(capsys)


def test_require_gpu_variable_is_checked_up_front(no_cluster, rate, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GPUCAL_REQUIRE_GPU", "maybe")
    assert main(["farm", "image2", rate, "--output-dir", str(tmp_path / "out")]) == 2
    assert "GPUCAL_REQUIRE_GPU" in _error(capsys)


def test_unreachable_scheduler_is_one_line_with_the_address(rate, tmp_path, capsys):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    options = ["--scheduler", address, "--connect-timeout", "1", "--output-dir", str(tmp_path / "out")]
    assert main(["farm", "image2", rate, *options]) == 1
    line = _error(capsys)
    assert f"cannot reach the Dask scheduler at {address}" in line and line.count(address) == 1


def test_malformed_scheduler_address_is_a_parameter_error(rate, tmp_path, capsys):
    assert main(["farm", "image2", rate, "--scheduler", "udp://x:1", "--output-dir", str(tmp_path / "o")]) == 2
    assert "--scheduler 'udp://x:1'" in _error(capsys)


def test_cluster_options_reach_dask_jobqueue(rate, tmp_path, monkeypatch, capsys):
    """``--cluster slurm --cores --memory --jobs`` are handed to the batch-cluster factory as given."""
    import gpucal.farm.jobqueue as jobqueue
    from gpucal.errors import ParameterError

    seen = {}

    def record(kind, **kwargs):
        seen.update(kwargs, kind=kind)
        raise ParameterError("recorded")

    monkeypatch.setattr(jobqueue, "start_batch_cluster", record)
    options = ["--cluster", "slurm", "--cores", "8", "--memory", "32GB", "--jobs", "3", "--output-dir", str(tmp_path)]
    assert main(["farm", "image2", rate, *options]) == 2
    assert seen == {"kind": "slurm", "jobs": 3, "cores": 8, "memory": "32GB", "threads": 1, "config_path": None}


def test_exit_code_is_1_unless_every_input_succeeded(rate, tmp_path, capsys):
    """The command against a scheduler (here in this process, on 127.0.0.1): one bad input makes the exit code 1."""
    import distributed

    from tests.factories import write_reference_files

    refs = write_reference_files(tmp_path / "refs")
    broken = tmp_path / "broken_rate.fits"
    broken.write_bytes(b"not a FITS file" * 300)
    steps = [
        f"--steps.assign_wcs.override_distortion={refs['distortion']}",
        f"--steps.assign_wcs.override_filteroffset={refs['filteroffset']}",
        f"--steps.flat_field.override_flat={refs['flat']}",
        f"--steps.photom.override_photom={refs['photom']}",
        f"--steps.photom.override_area={refs['area']}",
        "--steps.resample.skip=true",
    ]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:  # fmt: skip
        args = ["farm", "image2", rate, str(broken), "--scheduler", cluster.scheduler_address, "--device", "cpu"]
        assert main([*args, "--output-dir", str(tmp_path / "out"), *steps]) == 1
        out = capsys.readouterr().out
        assert main(["farm", "image2", rate, "--scheduler", cluster.scheduler_address, "--device", "cpu",
                     "--output-dir", str(tmp_path / "out2"), *steps]) == 0  # fmt: skip
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and failed[0].count(str(broken)) == 1 and "not a FITS file" in failed[0]
    assert "1 processed, 1 failed, 0 skipped" in out
