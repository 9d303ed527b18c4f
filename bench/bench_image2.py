"""calwebb_image2 on full-frame NIRCam exposures with 2 backgrounds: gpucal vs jwst 3.0.

Usage::

    python bench/bench_image2.py [--size 2048] [--devices cpu,cuda] [--resample] [--folder DIR] [--repeat 2]
    python bench/bench_image2.py --exposures 4 ...   # a dither set: 4 products in one association

Both pipelines get the same simulated inputs and every reference by
override. Reported per step (from each pipeline's own log timestamps) and for
the whole process (a fresh Python process each: import, reading, every step,
writing). By default resample is skipped (``--resample`` includes it), so the
comparison is bkg_subtract + assign_wcs + flat_field + photom + I/O. Each
configuration runs ``--repeat`` times and the fastest run is kept (the first
warms the page cache and numba's kernel cache).

With ``--exposures N`` the N dithered exposures (sharing the 2 backgrounds, as
a dither set does) go through each pipeline as one association of N products
in one process: the per-exposure figure is then the whole process time over N
and per-step times are the means over the products after the first (a warm
process, as a reprocessing worker runs).
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


def _mean_after_first(samples):
    """Mean per step over the products after the first (the first pays one-off costs)."""
    times = {}
    for name, values in samples.items():
        use = values[1:] if len(values) > 1 else values
        times[name] = sum(use) / len(use)
    return times


def _jwst_step_times(log):
    """Per-step seconds from jwst's log: 'Step <name> running' ... 'Step <name> done'."""
    stamp = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?Step (\w+) (running|done)")
    starts, samples = {}, {}
    for line in log.splitlines():
        match = stamp.match(line)
        if not match:
            continue
        when = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        name, what = match.group(2), match.group(3)
        if what == "running":
            starts[name] = when
        elif name in starts and name in STEPS:
            samples.setdefault(name, []).append(when - starts.pop(name))
    return _mean_after_first(samples)


def _gpucal_step_times(log):
    pattern = re.compile(r"(\w+)\s+(COMPLETE|SKIPPED|FAILED)?\s+([0-9.]+) s")
    samples = {}
    for line in log.splitlines():
        match = pattern.search(line)
        if match and match.group(1) in STEPS:
            samples.setdefault(match.group(1), []).append(float(match.group(3)))
    return _mean_after_first(samples)


def dither_association(sim, folder):
    """One image2 association holding every science product of the simulation."""
    docs = [json.loads(pathlib.Path(p).read_text()) for p in sim.image2_asn]
    combined = dict(docs[0], products=[d["products"][0] for d in docs])
    path = pathlib.Path(sim.image2_asn[0]).parent / "dither_image2_asn.json"
    path.write_text(json.dumps(combined, indent=1))
    return path


def run_jwst(sim, asn, out, resample):
    from tests.jwst_offline import run_image2

    shutil.rmtree(out, ignore_errors=True)  # fresh outputs: overwriting a file costs its deletion
    steps = {"resample": {"skip": not resample}}
    run = run_image2(asn, sim.references, out, steps=steps)
    if run.returncode != 0:
        raise RuntimeError(run.log[-2000:])
    return run.seconds, _jwst_step_times(run.log)


def run_gpucal(sim, asn, out, device, resample):
    from tests.jwst_offline import image2_step_options

    steps = image2_step_options(sim.references, {"resample": {"skip": not resample}})
    shutil.rmtree(out, ignore_errors=True)
    args = [f"--steps.{s}.{k}={v}" for s, params in steps.items() for k, v in params.items()]
    cmd = [
        sys.executable,
        "-m",
        "gpucal.cli",
        "image2",
        str(asn),
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
    parser.add_argument("--exposures", type=int, default=1, help="dithered exposures, as one association (default: 1)")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    title = f"calwebb_image2, NIRCam {args.size}x{args.size}, {args.exposures} exposure(s), 2 backgrounds"
    env = header(title + (", with resample" if args.resample else ""), args.devices)

    from gpucal.sim import simulate

    folder = pathlib.Path(args.folder or tempfile.mkdtemp(prefix="gpucal-bench-"))
    sim = simulate(
        folder / f"sim{args.size}x{args.exposures}",
        instrument="nircam",
        detector="nrca1",
        filter="f200w",
        exposures=args.exposures,
        backgrounds=2,
        size=args.size,
        seed=5,
    )
    asn = sim.image2_asn[0] if args.exposures == 1 else dither_association(sim, folder)
    runs = {}
    if not args.no_jwst:
        runs["jwst 3.0"] = min(
            (run_jwst(sim, asn, folder / "jwst", args.resample) for _ in range(args.repeat)), key=lambda r: r[0]
        )
    for device in args.devices.split(","):
        runs[f"gpucal {device}"] = min(
            (run_gpucal(sim, asn, folder / f"gpucal_{device}", device, args.resample) for _ in range(args.repeat)),
            key=lambda r: r[0],
        )

    n = args.exposures
    steps = [s for s in STEPS if any(s in times for _, times in runs.values())]
    last = "per exposure" if n > 1 else "process"
    note = " (mean over products 2..N, warm process)" if n > 1 else ""
    print(f"# step columns: seconds{note}; last column: whole process time / {n}")
    print(f"{'':14s}" + "".join(f"{s:>14s}" for s in steps) + f"{'steps':>10s}{last:>14s}")
    for name, (process, times) in runs.items():
        total = sum(times.get(s, 0.0) for s in steps)
        cells = "".join(f"{times.get(s, float('nan')):14.3f}" for s in steps)
        print(f"{name:14s}{cells}{total:10.3f}{process / n:14.2f}")
    if "jwst 3.0" in runs:
        j_process, j_times = runs["jwst 3.0"]
        j_steps = sum(j_times.get(s, 0.0) for s in steps)
        for name, (process, times) in runs.items():
            if name != "jwst 3.0":
                total = sum(times.get(s, 0.0) for s in steps)
                print(f"# {name}: steps {j_steps / total:.1f}x, whole process {j_process / process:.1f}x faster than jwst 3.0")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"env": env, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
