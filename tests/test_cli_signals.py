"""SIGTERM and SIGHUP stop a command like Ctrl-C: temporaries removed, no partial product set (issue 9, item 6)."""

import logging
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from gpucal.io.asn import Association, Member, Product, write_asn
from gpucal.io.atomic import atomic_path
from tests.factories import write_reference_files, write_small_rate


@pytest.fixture
def restore_logging():
    logger = logging.getLogger("gpucal")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_stop_signal_unwinds_and_exits_128_plus_signal(tmp_path, monkeypatch, capsys, restore_logging, signum, code):
    from gpucal.cli import info, main

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    target = tmp_path / "x_cal.fits"

    def run(args):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half written")
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises before this ends
        return 0

    monkeypatch.setattr(info, "run", run)
    started = time.perf_counter()
    assert main(["info"]) == code
    assert time.perf_counter() - started < 4
    assert list(tmp_path.iterdir()) == []  # the temporary was removed, nothing under the final name
    assert ("interrupted" if signum == signal.SIGINT else signal.Signals(signum).name) in capsys.readouterr().err
    assert {s: signal.getsignal(s) for s in before} == before  # the handlers are restored after the command


def _asn_of(tmp_path, n):
    products = []
    for k in range(n):
        name = f"jw01345001001_02101_{k + 1:05d}_nrca1"
        write_small_rate(tmp_path, name=f"{name}_rate.fits", shape=(128, 128), seed=k)
        products.append(Product(name, [Member(f"{name}_rate.fits", "science")]))
    return write_asn(Association("image2", "o001", products), tmp_path / "run_asn.json"), [p.name for p in products]


def test_sigterm_mid_run_leaves_complete_sets_and_no_temporaries(tmp_path):
    """A real `gpucal image2` process over 8 exposures, sent SIGTERM once the first set is in place."""
    refs = write_reference_files(tmp_path / "refs")
    asn, names = _asn_of(tmp_path, 8)
    out = tmp_path / "out"
    steps = {
        "assign_wcs.override_distortion": refs["distortion"], "assign_wcs.override_filteroffset": refs["filteroffset"],
        "flat_field.override_flat": refs["flat"], "photom.override_photom": refs["photom"],
        "photom.override_area": refs["area"],
    }  # fmt: skip
    command = [sys.executable, "-m", "gpucal.cli", "image2", str(asn), "--device", "cpu", "--output-dir", str(out)]
    command += [f"--steps.{k}={v}" for k, v in steps.items()]
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="400")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if "wrote" in line:  # the first product set has been renamed into place
                process.send_signal(signal.SIGTERM)
                break
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(seen) + rest
    assert process.returncode == 143, output
    assert "stopped by SIGTERM" in output
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no .part, no scratch folder
    complete = []
    for name in names:
        present = [(out / f"{name}_{suffix}.fits").is_file() for suffix in ("cal", "i2d")]
        assert all(present) or not any(present), f"{name}: a partial product set {present}"
        complete.append(all(present))
    assert complete[0] and not complete[-1], complete  # stopped mid-run, after the first set
    from gpucal.io.exposure import read_exposure

    for path in pathlib.Path(out).iterdir():
        assert read_exposure(path, required=("data",)).data is not None  # every file there is whole
