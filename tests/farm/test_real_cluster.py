"""The farm against real processes on 127.0.0.1: a ``dask scheduler``, two ``dask worker``s, ``gpucal farm``.

One worker hangs in its first task (a preload, ``_hang_first_task.py``) and is killed while the task
runs: the task must finish on the other worker, with every product complete, none partial, none
twice. A ``--resume`` run then skips the complete products (read back, not trusted by name) and
redoes a deliberately truncated one. Every process is started with a timeout and always killed.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.factories import write_reference_files, write_small_rate

distributed = pytest.importorskip("distributed")

HERE = pathlib.Path(__file__).resolve().parent
NAMES = [f"jw01345001001_02101_0000{k}_nrca1" for k in (1, 2, 3)]


def _dask(*args, cwd, env=None, log):
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *args], cwd=cwd, env={**os.environ, **(env or {})}, stdout=log, stderr=log
    )


def _address(scheduler_file):
    """The address a scheduler wrote to its ``--scheduler-file`` (None until the file is there, whole)."""
    try:
        return json.loads(scheduler_file.read_text())["address"]
    except (OSError, ValueError, KeyError):
        return None


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _write_data(folder):
    """Three small exposures and references, and step options naming the references relative to ``folder``."""
    refs = write_reference_files(folder / "refs")
    for k, name in enumerate(NAMES, start=1):
        write_small_rate(folder, name=f"{name}_rate.fits", seed=k)
    rel = {key: os.path.relpath(path, folder) for key, path in refs.items()}
    return [
        f"--steps.assign_wcs.override_distortion={rel['distortion']}",
        f"--steps.assign_wcs.override_filteroffset={rel['filteroffset']}",
        f"--steps.flat_field.override_flat={rel['flat']}",
        f"--steps.photom.override_photom={rel['photom']}",
        f"--steps.photom.override_area={rel['area']}",
        "--steps.resample.skip=true",
    ]


@pytest.fixture
def cluster(tmp_path):
    """A scheduler, two single-thread workers (``hang`` hangs in its first task) and the data; all killed at the end.

    The workers run in another folder than the farm, so a relative path sent to them would not be found.
    The data are written while the processes start.
    """
    marker = tmp_path / "hanging-task.txt"
    workdir, folder = tmp_path / "workers", tmp_path / "data"
    workdir.mkdir()
    logs = (tmp_path / "dask.log").open("w")
    procs = {}
    try:
        # The scheduler picks a free port itself (port 0) and writes its address: no port is chosen here and then
        # bound later, which another test process (pytest-xdist) could take in between.
        scheduler_file = tmp_path / "scheduler.json"
        procs["scheduler"] = _dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(scheduler_file), cwd=workdir, log=logs)  # fmt: skip
        _wait_for(lambda: _address(scheduler_file) or procs["scheduler"].poll() is not None, 60, "the scheduler")
        address = _address(scheduler_file)
        assert address and address.startswith("tcp://127.0.0.1:"), (address, (tmp_path / "dask.log").read_text())
        common = ("worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1", "--no-dashboard",
                  "--death-timeout", "60", "--preload", "gpucal.pipelines.image2")  # fmt: skip
        procs["hang"] = _dask(*common, "--name", "hang", "--preload", str(HERE / "_hang_first_task.py"), cwd=workdir,
                              env={"GPUCAL_TEST_HANG_MARKER": str(marker)}, log=logs)  # fmt: skip
        procs["steady"] = _dask(*common, "--name", "steady", cwd=workdir, log=logs)
        steps = _write_data(folder)
        with distributed.Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs, marker, folder, steps
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in procs.values():
            proc.wait(timeout=30)
        logs.close()


def _farm(folder, address, steps, *extra):
    inputs = [f"{n}_rate.fits" for n in NAMES]
    args = [sys.executable, "-m", "gpucal.cli", "-q", "farm", "image2", *inputs, "--scheduler", address,
            "--output-dir", "out", "--device", "cpu", "--retries", "0", *steps, *extra]  # fmt: skip
    return subprocess.Popen(args, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _report(folder):
    report = json.loads((folder / "out" / "gpucal-farm-image2.json").read_text())
    return {pathlib.Path(e["input"]).name: e for e in report["inputs"]}, report


def test_killed_worker_task_finishes_elsewhere_then_resume_redoes_only_the_damaged(cluster):
    address, procs, marker, folder, steps = cluster
    farm = _farm(folder, address, steps)
    try:
        _wait_for(lambda: marker.exists() or farm.poll() is not None, 60, "a task to start on the hanging worker")
        assert farm.poll() is None, farm.communicate()
        hung_input = pathlib.Path(marker.read_text().split()[0]).name
        procs["hang"].send_signal(signal.SIGKILL)  # mid-task
        out, err = farm.communicate(timeout=90)
    finally:
        if farm.poll() is None:
            farm.kill()
    assert farm.returncode == 0, out + err

    entries, report = _report(folder)
    steady = f"{socket.gethostname()}:{procs['steady'].pid}"
    assert report["summary"] == {"ok": 3, "failed": 0, "skipped": 0, "pending": 0}
    assert entries[hung_input]["worker"] == steady  # the killed worker's task ran again on the other one
    assert all(e["status"] == "ok" and e["error"] == "" for e in entries.values())
    products = {n: folder / "out" / f"{n}_cal.fits" for n in NAMES}
    for name, path in products.items():
        assert entries[f"{name}_rate.fits"]["products"] == [str(path)]
    # every product once, complete; nothing partial or hidden left behind
    assert sorted(p.name for p in (folder / "out").iterdir()) == sorted(
        [p.name for p in products.values()] + ["gpucal-farm-image2.json"]
    )
    from gpucal.farm.products import product_problem

    assert all(product_problem(p) is None for p in products.values())

    # --resume: two products are complete and are skipped; a truncated one is redone.
    damaged = products[NAMES[1]]
    damaged.write_bytes(damaged.read_bytes()[:-1000])
    kept = {n: products[n].stat().st_mtime_ns for n in (NAMES[0], NAMES[2])}
    farm = _farm(folder, address, steps, "--resume")
    try:
        out, err = farm.communicate(timeout=90)
    finally:
        if farm.poll() is None:
            farm.kill()
    assert farm.returncode == 0, out + err
    entries, report = _report(folder)
    assert report["summary"] == {"ok": 1, "failed": 0, "skipped": 2, "pending": 0}
    assert entries[f"{NAMES[1]}_rate.fits"]["status"] == "ok"
    assert product_problem(damaged) is None
    assert {n: products[n].stat().st_mtime_ns for n in kept} == kept
    assert out.count("skipped ") >= 2
