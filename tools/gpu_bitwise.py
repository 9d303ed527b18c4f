"""Run-to-run and device-to-device comparison of image2 products (``_cal`` and ``_i2d``).

Simulates one NIRCam exposure (with 2 backgrounds), then runs ``gpucal image2``
(resample on, so both ``_cal`` and ``_i2d`` are written) once per entry of
``--runs``, each in a fresh Python process, and compares every HDU with data:

* the first two runs (by default cuda, cuda) bit for bit: every array compared
  as raw bytes, NaN payloads included; any difference is a failure (exit 1);
* the first run against each further run (by default cpu): per extension,
  whether it is bitwise equal, the number of differing elements, NaN-pattern
  mismatches, and the largest absolute and relative differences; reported, not
  a failure.

Usage::

    python3 tools/gpu_bitwise.py [--runs cuda,cuda,cpu] [--size 2048] [--folder DIR] [--json FILE]

``--runs cpu,cpu,cpu`` (or any devices) works on a machine without a GPU.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Header keywords that legitimately change from run to run.
VOLATILE_KEYS = {"DATE", "CAL_VER", "CAL_VCS", "CRDS_VER", "CRDS_CTX", "CHECKSUM", "DATASUM"}


def run_image2(asn, ref_dir, outdir, device):
    cmd = [sys.executable, "-m", "gpucal.cli", "image2", str(asn), "--device", device,
           "--output-dir", str(outdir), "--ref-dir", str(ref_dir)]  # fmt: skip
    if device.startswith("cuda"):
        cmd.append("--require-gpu")
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "200"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"image2 on {device} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    products = {}
    for suffix in ("cal", "i2d"):
        found = sorted(pathlib.Path(outdir).glob(f"*_{suffix}.fits"))
        if len(found) != 1:
            raise SystemExit(f"{outdir}: expected one _{suffix}.fits, found {[p.name for p in found]}")
        products[suffix] = found[0]
    return products, seconds


def _hdus(path):
    """{(EXTNAME, EXTVER): (kind, array or bytes, header)} for every HDU with data."""
    from astropy.io import fits

    out = {}
    with fits.open(path, memmap=False) as hdul:
        for index, hdu in enumerate(hdul):
            name = hdu.name or f"HDU{index}"
            key = f"{name}" + (f",{hdu.ver}" if getattr(hdu, "ver", 1) not in (1, None) else "")
            skip = VOLATILE_KEYS | {"", "HISTORY", "COMMENT"}
            header = {k: hdu.header[k] for k in hdu.header if k not in skip}
            if hdu.data is None:
                out[key] = ("none", None, header)
            elif isinstance(hdu, fits.BinTableHDU):
                out[key] = ("table", bytes(hdu.data.tobytes()), header)
            else:
                out[key] = ("image", np.array(hdu.data), header)
    return out


def _header_diff(ha, hb):
    keys = sorted(set(ha) | set(hb))
    return [k for k in keys if repr(ha.get(k)) != repr(hb.get(k))]


def compare(path_a, path_b):
    """Per-HDU comparison of two FITS files; returns a list of dicts."""
    a, b = _hdus(path_a), _hdus(path_b)
    rows = []
    for key in list(dict.fromkeys([*a, *b])):
        row = {"ext": key}
        if key not in a or key not in b:
            row.update(bitwise=False, note="missing in " + ("first" if key not in a else "second"))
            rows.append(row)
            continue
        (kind, da, ha), (_, db, hb) = a[key], b[key]
        row["header_diff"] = _header_diff(ha, hb)
        if kind == "none":
            row.update(bitwise=True)
        elif kind == "table":
            row.update(bitwise=da == db, nbytes=len(da), note="binary table (ASDF)")
            if da != db:
                row["differing_bytes"] = int(
                    np.count_nonzero(np.frombuffer(da, np.uint8)[: len(db)] != np.frombuffer(db, np.uint8)[: len(da)])
                ) + abs(len(da) - len(db))
        else:
            row.update(dtype=str(da.dtype), shape=list(da.shape))
            if da.shape != db.shape or da.dtype != db.dtype:
                row.update(bitwise=False, note=f"shape/dtype {da.shape}/{da.dtype} vs {db.shape}/{db.dtype}")
                rows.append(row)
                continue
            raw_a = np.ascontiguousarray(da).view(np.uint8).reshape(da.size, -1) if da.size else da
            raw_b = np.ascontiguousarray(db).view(np.uint8).reshape(db.size, -1) if db.size else db
            differ = np.any(raw_a != raw_b, axis=1) if da.size else np.zeros(0, bool)
            row["bitwise"] = not bool(differ.any())
            row["differing"] = int(differ.sum())
            row["size"] = int(da.size)
            if da.dtype.kind == "f":
                fa, fb = da.astype(np.float64), db.astype(np.float64)
                na, nb = np.isnan(fa), np.isnan(fb)
                row["nan_mismatch"] = int(np.count_nonzero(na != nb))
                both = np.isfinite(fa) & np.isfinite(fb)
                if both.any():
                    diff = np.abs(fa[both] - fb[both])
                    scale = np.maximum(np.abs(fa[both]), np.abs(fb[both]))
                    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
                    row["max_abs"] = float(diff.max())
                    row["max_rel"] = float(rel.max())
                    row["rms_rel"] = float(np.sqrt(np.mean(rel**2)))
            elif da.dtype.kind in "iu":
                row["max_abs"] = int(np.max(np.abs(da.astype(np.int64) - db.astype(np.int64)))) if da.size else 0
                if da.dtype.kind == "u":
                    row["bits_differing"] = sorted(
                        int(bit) for bit in range(da.dtype.itemsize * 8)
                        if np.any(((da ^ db) >> da.dtype.type(bit)) & da.dtype.type(1))
                    )  # fmt: skip
        rows.append(row)
    return rows


def _fmt(row):
    cells = [f"{row['ext']:<14s}", "IDENTICAL" if row.get("bitwise") else "DIFFERENT"]
    for key in ("differing", "nan_mismatch", "max_abs", "max_rel", "rms_rel", "bits_differing", "differing_bytes"):
        if key in row and (key != "differing" or not row.get("bitwise")):
            value = row[key]
            cells.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    if row.get("header_diff"):
        cells.append(f"header keys differ: {row['header_diff'][:8]}")
    if row.get("note"):
        cells.append(row["note"])
    return "  ".join(cells)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", default="cuda,cuda,cpu", help="devices, one fresh process each (default: cuda,cuda,cpu)"
    )
    parser.add_argument("--size", type=int, default=2048, help="science array side (default: 2048, full frame)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folder", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    if len(runs) < 2:
        parser.error("--runs needs at least two devices")

    from gpucal.sim import simulate

    folder = pathlib.Path(args.folder or tempfile.mkdtemp(prefix="gpucal-bitwise-"))
    start = time.perf_counter()
    sim = simulate(folder / "sim", exposures=1, backgrounds=2, size=args.size, seed=args.seed)
    took = time.perf_counter() - start
    print(f"# simulated NIRCam {args.size}x{args.size}, 1 exposure + 2 backgrounds in {took:.1f} s")
    asn = sim.image2_asn[0]
    ref_dir = next(iter(sim.references.values())).parent

    products, seconds = [], []
    for i, device in enumerate(runs):
        found, took = run_image2(asn, ref_dir, folder / f"run{i}_{device.replace(':', '')}", device)
        products.append(found)
        seconds.append(took)
        print(f"# run {i}: image2 --device {device}: {took:.2f} s (process)")

    result = {"size": args.size, "runs": runs, "seconds": seconds, "comparisons": []}
    failed = False
    for j in range(1, len(runs)):
        strict = j == 1
        label = f"run0 ({runs[0]}) vs run{j} ({runs[j]})" + (" [must be bitwise identical]" if strict else " [report]")
        print(f"\n## {label}")
        for suffix in ("cal", "i2d"):
            rows = compare(products[0][suffix], products[j][suffix])
            same = all(r.get("bitwise") for r in rows)
            # The ASDF table carries timestamps/history; only the arrays must match run to run.
            arrays_same = all(r.get("bitwise") for r in rows if r.get("note") != "binary table (ASDF)")
            asdf = [r for r in rows if r.get("note") == "binary table (ASDF)" and not r.get("bitwise")]
            state = "all arrays IDENTICAL" if arrays_same else "ARRAYS DIFFER"
            if asdf:
                state += f" (ASDF table differs in {asdf[0].get('differing_bytes')} bytes: dates/history)"
            print(f"### _{suffix}: {state}")
            for row in rows:
                print("    " + _fmt(row))
            entry = {"a": runs[0], "b": runs[j], "index": j, "product": suffix}
            entry.update(identical=same, arrays_identical=arrays_same, rows=rows)
            result["comparisons"].append(entry)
            if strict and not arrays_same:
                failed = True
    verdict = "FAIL: run-to-run arrays differ" if failed else "OK: run-to-run arrays bitwise identical"
    print(f"\n# {verdict}")
    result["verdict"] = verdict
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
