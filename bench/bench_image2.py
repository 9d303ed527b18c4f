"""calwebb_image2 on one full-frame NIRCam exposure with 2 backgrounds: gpucal vs jwst 3.0.

Usage::

    python bench/bench_image2.py [--size 2048] [--devices cpu,cuda] [--resample] [--folder DIR] [--repeat 2]

Both pipelines get the same simulated inputs and every reference by
override. Reported per step (from each pipeline's own log timestamps) and for
the whole process (a fresh Python process each: import, reading, every step,
writing). By default resample is skipped (``--resample`` includes it), so the
comparison is bkg_subtract + assign_wcs + flat_field + photom + I/O. Each
configuration runs ``--repeat`` times and the fastest run is kept (the first
warms the page cache and numba's kernel cache).
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
from _helpers import header  # noqa: E402

STEPS = ("bkg_subtract", "assign_wcs", "flat_field", "photom", "resample")


def _jwst_step_times(log):
    """Per-step seconds from jwst's log: 'Step <name> running' ... 'Step <name> done'."""
    stamp = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?Step (\w+) (running|done)")
    starts, times = {}, {}
    for line in log.splitlines():
        match = stamp.match(line)
        if not match:
            continue
        when = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        name, what = match.group(2), match.group(3)
        if what == "running":
            starts[name] = when
        elif name in starts:
            times[name] = when - starts.pop(name)
    return times


def _gpucal_step_times(log):
    pattern = re.compile(r"(\w+)\s+(COMPLETE|SKIPPED|FAILED)?\s+([0-9.]+) s")
    times = {}
    for line in log.splitlines():
        match = pattern.search(line)
        if match and match.group(1) in STEPS:
            times[match.group(1)] = float(match.group(3))
    return times


def run_jwst(sim, out, resample):
    from tests.jwst_offline import run_image2

    shutil.rmtree(out, ignore_errors=True)  # fresh outputs: overwriting a file costs its deletion

    steps = {"resample": {"skip": not resample}}
    run = run_image2(sim.image2_asn[0], sim.references, out, steps=steps)
    if run.returncode != 0:
        raise RuntimeError(run.log[-2000:])
    return run.seconds, _jwst_step_times(run.log)


def run_gpucal(sim, out, device, resample):
    from tests.jwst_offline import image2_step_options

    steps = image2_step_options(sim.references, {"resample": {"skip": not resample}})
    shutil.rmtree(out, ignore_errors=True)
    args = [f"--steps.{s}.{k}={v}" for s, params in steps.items() for k, v in params.items()]
    cmd = [
        sys.executable,
        "-m",
        "gpucal.cli",
        "image2",
        str(sim.image2_asn[0]),
        "--device",
        device,
        "--output-dir",
        str(out),
        *args,
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-2000:])
    return seconds, _gpucal_step_times(done.stdout + done.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--devices", default="cpu")
    parser.add_argument("--resample", action="store_true", help="include the resample step (_i2d)")
    parser.add_argument("--folder", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-jwst", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    env = header(
        f"calwebb_image2, NIRCam {args.size}x{args.size}, 2 backgrounds" + (", with resample" if args.resample else ""),
        args.devices,
    )

    from gpucal.sim import simulate

    folder = pathlib.Path(args.folder or tempfile.mkdtemp(prefix="gpucal-bench-"))
    sim_dir = folder / f"sim{args.size}"
    sim = simulate(
        sim_dir,
        instrument="nircam",
        detector="nrca1",
        filter="f200w",
        exposures=1,
        backgrounds=2,
        size=args.size,
        seed=5,
    )
    runs = {}
    if not args.no_jwst:
        runs["jwst 3.0"] = min(
            (run_jwst(sim, folder / "jwst", args.resample) for _ in range(args.repeat)), key=lambda r: r[0]
        )
    for device in args.devices.split(","):
        runs[f"gpucal {device}"] = min(
            (run_gpucal(sim, folder / f"gpucal_{device}", device, args.resample) for _ in range(args.repeat)),
            key=lambda r: r[0],
        )

    steps = [s for s in STEPS if any(s in times for _, times in runs.values())]
    print(f"{'':14s}" + "".join(f"{s:>14s}" for s in steps) + f"{'steps':>10s}{'process':>10s}")
    for name, (process, times) in runs.items():
        total = sum(times.get(s, 0.0) for s in steps)
        print(
            f"{name:14s}"
            + "".join(f"{times.get(s, float('nan')):14.3f}" for s in steps)
            + f"{total:10.3f}{process:10.2f}"
        )
    if "jwst 3.0" in runs:
        j_process, j_times = runs["jwst 3.0"]
        j_steps = sum(j_times.get(s, 0.0) for s in steps)
        for name, (process, times) in runs.items():
            if name != "jwst 3.0":
                total = sum(times.get(s, 0.0) for s in steps)
                print(
                    f"# {name}: steps {j_steps / total:.1f}x faster, whole process {j_process / process:.1f}x faster than jwst 3.0"
                )
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"env": env, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
