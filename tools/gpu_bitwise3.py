"""image3 run-to-run bitwise check on a GPU: one association twice on cuda (bit for bit), once on cpu (reported).

Usage::

    python tools/gpu_bitwise3.py ASN --folder DIR [--json OUT.json]

Each run is a fresh ``gpucal image3`` process. Every array of every product
(_crf, _i2d) is compared; run-to-run differences on the same device fail
(exit 1); cuda vs cpu differences are reported (max abs/rel, pixels differing).
"""

import argparse
import json
import pathlib
import subprocess
import sys

import numpy as np
from astropy.io import fits


def run(asn, out, device):
    cmd = [sys.executable, "-m", "gpucal.cli", "--debug", "image3", str(asn), "--device", device,
           "--output-dir", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{device} run failed:\n{done.stdout[-1500:]}{done.stderr[-4000:]}")
    return sorted(pathlib.Path(out).glob("*.fits"))


def compare(a_files, b_dir):
    report = {}
    for a in a_files:
        b = pathlib.Path(b_dir) / a.name
        with fits.open(a) as ha, fits.open(b) as hb:
            for hdu in ha:
                if hdu.name in ("PRIMARY", "ASDF") or hdu.data is None or hdu.is_image is False:
                    continue
                x, y = hdu.data, hb[hdu.name].data
                same_nan = np.isnan(x) == np.isnan(y) if x.dtype.kind == "f" else np.ones(x.shape, bool)
                both_nan = np.isnan(x) & np.isnan(y) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
                differ = int(np.count_nonzero((x != y) & ~both_nan))
                entry = {"differ": differ, "nan_mismatch": int(np.count_nonzero(~same_nan))}
                if x.dtype.kind == "f" and differ:
                    ok = np.isfinite(x) & np.isfinite(y)
                    d = np.abs(x[ok].astype(np.float64) - y[ok])
                    entry["max_abs"] = float(d.max())
                    entry["max_rel"] = float((d / np.maximum(np.abs(y[ok]), 1e-30)).max())
                report[f"{a.name}:{hdu.name}"] = entry
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("asn")
    parser.add_argument("--folder", required=True)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    folder = pathlib.Path(args.folder)
    first = run(args.asn, folder / "cuda0", "cuda")
    run(args.asn, folder / "cuda1", "cuda")
    run(args.asn, folder / "cpu", "cpu")
    same = compare(first, folder / "cuda1")
    vs_cpu = compare(first, folder / "cpu")
    bad = {k: v for k, v in same.items() if v["differ"] or v["nan_mismatch"]}
    print(f"## image3 cuda run-to-run: {'BITWISE IDENTICAL' if not bad else 'DIFFERENT'} ({len(same)} arrays)")
    for k, v in bad.items():
        print("  DIFFERENT", k, v)
    print("## image3 cuda vs cpu:")
    for k, v in vs_cpu.items():
        print(f"  {k}: {v}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"run_to_run": same, "cuda_vs_cpu": vs_cpu}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
