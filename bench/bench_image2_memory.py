"""Peak memory of ``gpucal image2`` on associations of 1, 4, 16, 64 full-frame products (issue 11).

Usage::

    python bench/bench_image2_memory.py --series 1,4,16,64 --size 2048 [--folder DIR] [--device cpu]

One simulated NIRCam exposure is calibrated into ``N`` products of one image2
association (the same ``_rate`` file under N names, no backgrounds, resample
skipped), each pipeline run a fresh ``gpucal image2`` process whose peak
resident memory is the child's own ``VmHWM``. Flat means the peak
does not grow with N (the issue asks for within 10 %).
"""

import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
from _helpers import header, run_measured  # noqa: E402


def make_association(folder, n, size):
    """An image2 association of ``n`` products, each a hard link to one simulated ``_rate`` file."""
    from gpucal.io.asn import make_image2_asn
    from gpucal.sim import simulate

    base = folder / f"sim{size}"
    if not (base / "done").exists():
        sim = simulate(base, exposures=1, backgrounds=0, size=size, seed=3)
        (base / "done").write_text(str(sim.science[0]))
    rate = pathlib.Path((base / "done").read_text())
    products = folder / f"n{n}"
    shutil.rmtree(products, ignore_errors=True)
    products.mkdir()
    docs = []
    for k in range(n):
        name = rate.name.replace("_00001_", f"_{k + 1:05d}_")
        os.link(rate, products / name)
        docs.append(make_image2_asn(name).to_dict())
    doc = dict(docs[0], products=[d["products"][0] for d in docs])
    asn = products / "image2_asn.json"
    asn.write_text(json.dumps(doc, indent=1))
    return asn, base / "references"


def run(asn, refs, out, device):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "gpucal.cli", "-q", "image2", str(asn), "--device", device, "--output-dir", str(out),
           "--ref-dir", str(refs), "--steps.resample.skip=true"]  # fmt: skip
    seconds, rss, _ = run_measured(cmd)
    shutil.rmtree(out, ignore_errors=True)
    return seconds, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="1,4,16,64")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--folder", default=None)
    args = parser.parse_args()
    header(f"gpucal image2 peak RSS vs number of products, NIRCam {args.size}x{args.size}", args.device)
    folder = pathlib.Path(args.folder or tempfile.mkdtemp(prefix="gpucal-bench-mem-"))
    print(f"{'N':>5s} {'process s':>10s} {'s/product':>10s} {'peak MiB':>9s}")
    first = None
    for n in (int(v) for v in args.series.split(",")):
        asn, refs = make_association(folder, n, args.size)
        seconds, rss = run(asn, refs, folder / "out", args.device)
        first = first or rss
        print(f"{n:5d} {seconds:10.2f} {seconds / n:10.3f} {rss:9.0f}   ({rss / first - 1:+.1%} vs N=1)", flush=True)


if __name__ == "__main__":
    main()
