"""calwebb_image2 on full-frame NIRCam exposures with 2 backgrounds: gpucal vs jwst 3.0.

Usage::

    python bench/bench_image2.py [--size 2048] [--devices cpu,cuda] [--resample] [--folder DIR] [--repeat 2]
    python bench/bench_image2.py --exposures 4 ...   # a dither set: 4 products in one association

Both pipelines get the same simulated inputs and every reference by
override. Reported per step (from each pipeline's own log) and for the whole
process (a fresh Python process each: import, reading, every step, writing
every product). By default resample is skipped (``--resample`` includes it),
so the comparison is bkg_subtract + assign_wcs + flat_field + photom + I/O.
Each configuration runs ``--repeat`` times and the fastest run is kept (the
first warms the page cache and numba's kernel cache).

Like is compared with like:

* step columns exclude writing products on both sides. gpucal's step timer
  stops before a product is saved; jwst (stpipe) saves a step's product, such
  as resample's ``_i2d``, before it logs ``Step ... done``, so that write is
  measured (from the step's last message before ``Saved model in`` to that
  line), taken out of jwst's column and printed on its own line. Every write
  is in the whole-process column of both.
* with ``--exposures N`` (N dithered exposures sharing the 2 backgrounds, as
  one association of N products in one process) nothing is dropped: per-step
  rows give product 1 (which carries gpucal's one-time combination of the
  shared backgrounds), the mean of products 2..N (a warm process) and the mean
  of all N, which is the figure the speed-ups use; the last column is the
  whole process time over N.
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
from _helpers import header, per_product_summary  # noqa: E402

STEPS = ("bkg_subtract", "assign_wcs", "flat_field", "photom", "resample")
_STAMPED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (.*)$")
_STEP = re.compile(r"Step (\w+) (running|done)")
_SAVED = re.compile(r"Saved model in (\S+)")


def jwst_step_samples(log):
    """Per-step seconds for each product from jwst's log, with the writes inside a step taken out.

    Returns ``(samples, writes)``: ``{step: [seconds per product]}`` without
    writes, and ``{step: [seconds of writing per product]}`` (what stpipe
    spent saving the step's product before logging ``Step <name> done``).
    """
    samples, writes = {}, {}
    current, started, saving, previous = None, 0.0, 0.0, None
    for line in log.splitlines():
        stamped = _STAMPED.match(line)
        if not stamped:
            continue
        when = datetime.datetime.strptime(stamped.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        text = stamped.group(2)
        step = _STEP.search(text)
        if step and step.group(1) in STEPS:
            name = step.group(1)
            if step.group(2) == "running":
                current, started, saving = name, when, 0.0
            elif name == current:
                samples.setdefault(name, []).append(when - started - saving)
                writes.setdefault(name, []).append(saving)
                current = None
        elif current is not None and previous is not None and _SAVED.search(text):
            saving += when - previous
        previous = when
    return samples, writes


def gpucal_step_samples(log):
    """Per-step seconds for each product from gpucal's log (its step timer stops before any product is saved)."""
    pattern = re.compile(r"(\w+)\s+(COMPLETE|SKIPPED|FAILED)?\s+([0-9.]+) s")
    samples = {}
    for line in log.splitlines():
        match = pattern.search(line)
        if match and match.group(1) in STEPS:
            samples.setdefault(match.group(1), []).append(float(match.group(3)))
    return samples


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
    samples, writes = jwst_step_samples(run.log)
    return {"process": run.seconds, "samples": samples, "writes": writes}


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
    return {"process": seconds, "samples": gpucal_step_samples(done.stdout + done.stderr), "writes": {}}


def _rows(runs, n):
    """Table rows ``(pipeline, label, {step: seconds})``: one per pipeline for one product, else product 1,
    products 2..N and the mean of all N."""
    rows = []
    for name, run in runs.items():
        summary = per_product_summary(run["samples"])
        run["summary"] = summary
        if n == 1:
            rows.append((name, name, summary["all"]))
            continue
        rows.append((name, f"{name} (product 1)", summary["first"]))
        if summary["rest"] is not None:
            rows.append((name, f"{name} (products 2-{n})", summary["rest"]))
        rows.append((name, f"{name} (mean of {n})", summary["all"]))
    return rows


def report(runs, n):
    """Print the per-step table, the writes taken out of jwst's steps and the speed-ups."""
    steps = [s for s in STEPS if any(s in run["samples"] for run in runs.values())]
    rows = _rows(runs, n)
    last = "per exposure" if n > 1 else "process"
    print(
        "# step columns: seconds without writing products (both sides); last column: whole process / "
        f"{n} (every read and write)"
    )
    width = max(14, *(len(label) + 1 for _, label, _ in rows))
    print(f"{'':{width}s}" + "".join(f"{s:>14s}" for s in steps) + f"{'steps':>10s}{last:>14s}")
    for name, label, times in rows:
        total = sum(times.get(s, 0.0) for s in steps)
        cells = "".join(f"{times.get(s, float('nan')):14.3f}" for s in steps)
        process = runs[name]["process"]
        print(f"{label:{width}s}{cells}{total:10.3f}{process / n:14.2f}")
    for name, run in runs.items():
        for step, values in run["writes"].items():
            if any(values):
                print(f"# {name}: {step} also wrote its product inside the step: {sum(values) / len(values):.3f} s "
                      "per product, taken out of the column above")  # fmt: skip
    if "jwst 3.0" not in runs:
        return
    jwst = runs["jwst 3.0"]
    j_steps = sum(jwst["summary"]["all"].get(s, 0.0) for s in steps)
    scope = f"mean over all {n} products, product 1 included" if n > 1 else "one product"
    for name, run in runs.items():
        if name != "jwst 3.0":
            total = sum(run["summary"]["all"].get(s, 0.0) for s in steps)
            print(f"# {name}: steps {j_steps / total:.1f}x ({scope}), "
                  f"whole process {jwst['process'] / run['process']:.1f}x faster than jwst 3.0")  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--devices", default="cpu")
    parser.add_argument("--resample", action="store_true", help="include the resample step (_i2d)")
    parser.add_argument("--folder", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-jwst", action="store_true")
    parser.add_argument("--exposures", type=int, default=1, help="dithered exposures, as one association (default: 1)")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.size < 1 or args.repeat < 1 or args.exposures < 1:
        parser.error("--size, --repeat and --exposures must be >= 1")
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
            (run_jwst(sim, asn, folder / "jwst", args.resample) for _ in range(args.repeat)),
            key=lambda r: r["process"],
        )
    for device in args.devices.split(","):
        runs[f"gpucal {device}"] = min(
            (run_gpucal(sim, asn, folder / f"gpucal_{device}", device, args.resample) for _ in range(args.repeat)),
            key=lambda r: r["process"],
        )
    report(runs, args.exposures)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"env": env, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
