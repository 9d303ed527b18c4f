"""calwebb_image3 (skymatch, outlier_detection, resample) on simulated NIRCam dither sets: gpucal vs jwst 3.0.

Usage::

    python bench/bench_image3.py --exposures 4 --size 2048 [--devices cpu,cuda] [--folder DIR]
    python bench/bench_image3.py --series 4,16,64 --size 2048 --no-jwst      # growth: time and peak RSS vs N
    python bench/bench_image3.py --series 200 --size 128 --no-jwst

Inputs are ``_cal`` files made by gpucal's image2 (equal to jwst's) from a
simulated dither set (exposures offset by dithers; cosmic rays included).
Each pipeline runs as a fresh Python process (import, reading, every step,
writing every product), timed by wall clock, its peak resident memory read
from the operating system (the child's own ``VmHWM``). The ``_cal`` inputs are
made in a separate process, so that the benchmark process itself stays small. By default
tweakreg and source_catalog are skipped on both sides (the three steps of the image3 issue);
``--all-steps`` runs all five, with the simulated APCORR and ABVEGAOFFSET references given
to both pipelines as overrides (jwst has no CRDS offline)::

    python bench/bench_image3.py --exposures 4 --size 2048 --all-steps
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

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
from _helpers import header, run_measured  # noqa: E402

THREE_STEPS = ("skymatch", "outlier_detection", "resample")
ALL_STEPS = ("tweakreg", *THREE_STEPS, "source_catalog")
SKIP = {"tweakreg": {"skip": True}, "source_catalog": {"skip": True}}
CATALOG_REFERENCES = ("apcorr", "abvegaoffset")


def step_options(cal_dir, all_steps):
    """Step options both pipelines get: the two extra steps skipped, or their references overridden."""
    if not all_steps:
        return SKIP
    refs = {name: str(next(cal_dir.glob(f"*_{name}.*"))) for name in CATALOG_REFERENCES}
    return {"source_catalog": {f"override_{name}": path for name, path in refs.items()}}


def make_cals(folder, n, size, seed=7):
    """Simulate ``n`` dithered exposures and calibrate them with gpucal image2 (CPU); returns the image3 ASN."""
    from gpucal.io.asn import make_image3_asn, write_asn
    from gpucal.pipelines.image2 import Image2Pipeline
    from gpucal.sim import simulate
    from tests.jwst_offline import image2_step_options

    cal_dir = folder / f"cal_{n}x{size}"
    asn_path = cal_dir / "image3_asn.json"
    if asn_path.exists():
        return asn_path
    sim = simulate(folder / f"sim_{n}x{size}", detector="nrca1", filter="f200w", exposures=n, backgrounds=0,
                   size=size, seed=seed)  # fmt: skip
    steps = image2_step_options(sim.references, {"resample": {"skip": True}})
    rates = [str(p) for p in sim.science]
    for rate in rates:
        Image2Pipeline.call(rate, steps=steps, device="cpu", save_results=True, output_dir=str(cal_dir))
    names = [pathlib.Path(r).name.replace("_rate", "_cal") for r in rates]
    for name in CATALOG_REFERENCES:  # kept for --all-steps (source_catalog's references)
        shutil.copy(sim.references[name], cal_dir)
    shutil.rmtree(folder / f"sim_{n}x{size}", ignore_errors=True)  # the rates are no longer needed
    return write_asn(make_image3_asn("jw00001-o001_t001_nircam_clear-f200w", names, asn_id="o001"), asn_path)


def run_gpucal(asn, out, device, skymethod=None, all_steps=False):
    shutil.rmtree(out, ignore_errors=True)
    options = [f"--steps.{step}.{key}={value}" for step, kv in step_options(asn.parent, all_steps).items()
               for key, value in kv.items()]  # fmt: skip
    cmd = [sys.executable, "-m", "gpucal.cli", "image3", str(asn), "--device", device, "--output-dir", str(out),
           *options, *([f"--steps.skymatch.skymethod={skymethod}"] if skymethod else [])]  # fmt: skip
    seconds, rss, log = run_measured(cmd, env={**os.environ, "COLUMNS": "200"})
    times = {}
    for match in re.finditer(r"(\w+)\s+(?:COMPLETE|SKIPPED|MIXED)\s+([0-9.]+) s", log):
        if match.group(1) in ALL_STEPS:
            times[match.group(1)] = float(match.group(2))
    return {"seconds": seconds, "rss_mib": rss, "steps": times}


def run_jwst(asn, out, all_steps=False):
    from tests.jwst_offline import crds_environment

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    steps = step_options(asn.parent, all_steps)
    request = {"pipeline": "Image3Pipeline", "input": str(asn), "output_dir": str(out), "steps": steps}
    (out / "request.json").write_text(json.dumps(request))
    env = {**os.environ, **crds_environment(out / "_crds")}
    cmd = [sys.executable, str(ROOT / "tests" / "jwst_offline.py"), str(out / "request.json")]
    seconds, rss, log = run_measured(cmd, env=env)
    times = {}
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?Step (\w+) (running|done)", log, re.M)
    begun = {}
    for when, name, what in stamps:
        t = datetime.datetime.strptime(when, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if what == "running":
            begun[name] = t
        elif name in ALL_STEPS and name in begun:
            times[name] = t - begun.pop(name)
    return {"seconds": seconds, "rss_mib": rss, "steps": times}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--exposures", type=int, default=4)
    parser.add_argument("--series", default=None, help="comma-separated N values (overrides --exposures)")
    parser.add_argument("--devices", default="cpu")
    parser.add_argument("--no-jwst", action="store_true")
    parser.add_argument("--folder", default=None, help="work folder (default: a temporary one); cals are reused")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    parser.add_argument("--skymethod", default=None, help="gpucal's skymatch method (default jwst's 'match', O(N^2) "
                        "when every exposure overlaps every other; 'local' is O(N))")  # fmt: skip
    parser.add_argument("--all-steps", action="store_true", help="run tweakreg and source_catalog too (all five)")
    args = parser.parse_args()
    columns = ALL_STEPS if args.all_steps else THREE_STEPS
    series = [int(n) for n in args.series.split(",")] if args.series else [args.exposures]
    env = header(f"calwebb_image3, NIRCam {args.size}x{args.size}, N = {series}", args.devices)
    folder = pathlib.Path(args.folder or tempfile.mkdtemp(prefix="gpucal-bench3-"))
    results = []
    print(f"{'N':>5s} {'pipeline':14s} {'process s':>10s} {'s/exposure':>11s} {'peak MiB':>9s}"
          + "".join(f"{s:>19s}" for s in columns))  # fmt: skip
    for n in series:
        asn = folder / f"cal_{n}x{args.size}" / "image3_asn.json"
        if not asn.exists():  # simulate and calibrate in a child process: this one must not grow
            code = f"import pathlib, bench_image3 as b; b.make_cals(pathlib.Path({str(folder)!r}), {n}, {args.size})"
            subprocess.run([sys.executable, "-c", code], check=True, cwd=str(ROOT / "bench"),
                           env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"})  # fmt: skip
        runs = {}
        jobs = [] if args.no_jwst else [("jwst 3.0", lambda a=asn: run_jwst(a, folder / "out_jwst", args.all_steps))]
        for device in args.devices.split(","):
            run = lambda d=device, a=asn: run_gpucal(a, folder / f"out_{d}", d, args.skymethod, args.all_steps)  # noqa: E731
            jobs.append((f"gpucal {device}", run))
        for name, job in jobs:
            try:
                r = runs[name] = job()
            except RuntimeError as exc:  # report and go on with the other pipelines
                print(f"{n:5d} {name:14s} FAILED: {str(exc)[-1500:]}", flush=True)
                continue
            cells = "".join(f"{r['steps'].get(s, float('nan')):19.3f}" for s in columns)
            print(f"{n:5d} {name:14s} {r['seconds']:10.2f} {r['seconds'] / n:11.3f} {r['rss_mib']:9.0f}{cells}",
                  flush=True)  # fmt: skip
        if "jwst 3.0" in runs:
            for name, r in runs.items():
                if name != "jwst 3.0":
                    print(f"#     {name}: whole process {runs['jwst 3.0']['seconds'] / r['seconds']:.1f}x faster "
                          f"than jwst 3.0, peak memory {r['rss_mib'] / runs['jwst 3.0']['rss_mib']:.2f}x")  # fmt: skip
        results.append({"n": n, "size": args.size, "runs": runs})
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"env": env, "results": results}, indent=1))


if __name__ == "__main__":
    main()
