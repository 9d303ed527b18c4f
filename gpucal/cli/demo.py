"""``gpucal demo``: simulate a dithered observation, calibrate it with image2, combine it with image3.

This is the README's main job: everything runs offline on built-in data. The
simulated reference files are found through gpucal's indexed local reference
folder (``--ref-dir``), as they would be in a reprocessing farm. Besides the
products, the demo writes into its work folder:

* ``mosaic_quicklook.png``: the mosaic (asinh stretch) with the catalog's
  sources circled (needs matplotlib, the ``plot`` extra; without it the demo
  says so and goes on);
* ``demo_report.json``: steps and their times, device, software versions,
  products, tweakreg's correction of each exposure, the number of sources,
  and the comparison with the simulator's truth that the demo also prints
  (recovered vs injected pointing errors, catalog completeness, flux accuracy;
  see :mod:`gpucal.report.truth`).
"""

import pathlib
import time

__all__ = ["QUICKLOOK_NAME", "REPORT_NAME", "add_parser", "run"]

QUICKLOOK_NAME = "mosaic_quicklook.png"
REPORT_NAME = "demo_report.json"
_IMAGE2_STEPS = ("bkg_subtract", "assign_wcs", "flat_field", "photom", "resample")


def add_parser(sub):
    parser = sub.add_parser(
        "demo", help="simulate a dither set and run image2 then image3 on it (offline end-to-end demo)"
    )
    parser.add_argument(
        "outdir",
        type=pathlib.Path,
        nargs="?",
        default=pathlib.Path("gpucal-demo"),
        help="work folder (default: ./gpucal-demo)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--instrument", default="nircam", help="nircam or miri (default: nircam)")
    parser.add_argument("--size", type=int, default=None, help="side of the science arrays (default: full frame)")
    parser.add_argument("--exposures", type=int, default=4, help="dithered exposures (default: 4)")
    parser.add_argument("--backgrounds", type=int, default=2, help="background exposures (default: 2)")
    parser.add_argument("--seed", type=int, default=1)
    return parser


def _relative(paths, outdir):
    import os

    return [os.path.relpath(p, outdir) for p in paths]


def run(args):
    import logging

    from rich.console import Console

    from gpucal.engine import select_device
    from gpucal.report.run_report import device_record, software_versions, write_report
    from gpucal.sim import simulate

    if not getattr(args, "debug", False):
        logging.getLogger("gpucal").setLevel(logging.WARNING)  # the tables below are the summary
    console = Console(width=max(Console().width, 140), markup=False)  # file names and hints may hold brackets
    device = select_device(args.device)
    start = time.perf_counter()
    kwargs = {
        "instrument": args.instrument,
        "exposures": args.exposures,
        "backgrounds": args.backgrounds,
        "seed": args.seed,
    }
    if args.size is not None:
        kwargs["size"] = args.size
    sim = simulate(args.outdir / "sim", **kwargs)
    simulated = time.perf_counter() - start
    console.print(
        f"simulated {len(sim.science)} exposures and {len(sim.background)} backgrounds in {simulated:.1f} s "
        f"-> {args.outdir / 'sim'}"
    )
    report = {
        "command": "gpucal demo", "parameters": {**kwargs, "size": args.size, "outdir": str(args.outdir)},
        "device": device_record(device), "versions": software_versions(),
        "simulate": {"seconds": round(simulated, 3), "exposures": len(sim.science), "backgrounds": len(sim.background),
                     "truth_catalog": sim.truth_catalog, "truth_pointings": sim.truth_pointings},
    }  # fmt: skip
    report["image2"], cals = _image2(console, sim, args.outdir, device)
    products = [p for item in report["image2"]["exposures"] for p in item["products"]]
    if len(sim.image2_asn) > 1:
        result, report["image3"] = _image3(console, sim, cals, args.outdir, device)
        products += result.written
        report.update(_against_truth(console, sim, cals, result))
        quicklook = _quicklook(console, result, args.outdir / QUICKLOOK_NAME)
        report["quicklook"] = quicklook
        if quicklook.get("path"):
            products.append(quicklook["path"])
    report["total_seconds"] = round(time.perf_counter() - start, 3)
    path = args.outdir / REPORT_NAME
    report["products"] = _relative([*products, path], args.outdir)
    write_report(report, path)
    console.print(f"run report: {path}")
    return 0


def _image2(console, sim, outdir, device):
    """Calibrate every exposure (calwebb_image2); print the table; return the report part and the _cal paths."""
    import numpy as np
    from rich.table import Table

    from gpucal.io.exposure import read_exposure
    from gpucal.pipelines.image2 import Image2Pipeline

    ref_dir = pathlib.Path(next(iter(sim.references.values()))).parent
    pipeline = Image2Pipeline(device=device, save_results=True, output_dir=str(outdir / "image2"), ref_dir=str(ref_dir))
    table = Table(title=f"calwebb_image2 on {device}")
    for column in (
        "exposure",
        "bkg s",
        "wcs s",
        "flat s",
        "photom s",
        "resample s",
        "total s",
        "median MJy/sr",
        "i2d shape",
    ):
        table.add_column(
            column, justify="right" if column != "exposure" else "left", no_wrap=True, min_width=len(column)
        )
    total = 0.0
    records, cals = [], []
    for asn in sim.image2_asn:
        t0 = time.perf_counter()
        (result,) = pipeline.run(str(asn))
        elapsed = time.perf_counter() - t0
        total += elapsed
        times = {alias: seconds for alias, seconds, _ in result.timings}
        i2d = next((p for p in result.written if str(p).endswith("_i2d.fits")), None)
        cals += [pathlib.Path(p) for p in result.written if str(p).endswith("_cal.fits")]
        good = np.isfinite(result.data) & ((result.dq & 1) == 0)
        median = float(np.median(result.data[good])) if good.any() else float("nan")
        shape = read_exposure(i2d, required=("data",), arrays={"data"}).shape if i2d else None
        table.add_row(
            result.meta.filename.replace("_cal.fits", ""),
            *(f"{times[a]:.3f}" if a in times else "-" for a in _IMAGE2_STEPS),
            f"{elapsed:.2f}", f"{median:.4f}", f"{shape[1]}x{shape[0]}" if shape else "-",
        )  # fmt: skip
        records.append({
            "exposure": result.meta.filename, "seconds": round(elapsed, 3), "median_mjysr": median,
            "steps": [{"step": a, "seconds": round(s, 4), "status": st} for a, s, st in result.timings],
            "products": list(result.written),
        })  # fmt: skip
    console.print(table)
    console.print(
        f"{len(sim.image2_asn)} exposures calibrated in {total:.1f} s "
        f"({total / max(1, len(sim.image2_asn)):.2f} s each); "
        f"products in {outdir / 'image2'}; truth catalog {sim.truth_catalog}"
    )
    console.print(
        "median: of the good pixels of the _cal (after background subtraction). On a first run the first "
        "exposure includes compiling the kernels; they are cached on disk for later processes."
    )
    return {"seconds": round(total, 3), "exposures": records}, cals


def _image3(console, sim, cals, outdir, device):
    """Combine the calibrated exposures into a mosaic (calwebb_image3), summarise it; return the result and report."""
    import json

    import numpy as np
    from rich.table import Table

    from gpucal.io.asn import make_image3_asn, write_asn
    from gpucal.pipelines.image3 import Image3Pipeline

    product = json.loads(sim.image3_asn.read_text())["products"][0]
    names = [m["expname"] for m in product["members"]]
    asn = write_asn(make_image3_asn(product["name"], names, asn_id="o001"), outdir / "image2" / "image3_asn.json")
    t0 = time.perf_counter()
    ref_dir = str(pathlib.Path(next(iter(sim.references.values()))).parent)
    result = Image3Pipeline.call(str(asn), device=device, save_results=True, output_dir=str(outdir / "image3"),
                                 ref_dir=ref_dir)  # fmt: skip
    elapsed = time.perf_counter() - t0
    table = Table(title=f"calwebb_image3 on {device}")
    for column in ("step", "status", "seconds"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for alias, seconds, status in result.timings:
        table.add_row(alias, status or "-", f"{seconds:.3f}")
    console.print(table)
    mosaic = result.mosaic
    flagged = result.outliers.n_flagged if result.outliers is not None else 0
    covered = int(np.count_nonzero(mosaic.wht > 0)) if mosaic is not None else 0
    ny, nx = mosaic.data.shape if mosaic is not None else (0, 0)
    n_sources = result.catalog.n_sources if result.catalog is not None else 0
    console.print(
        f"image3: {len(names)} exposures combined in {elapsed:.1f} s; mosaic {nx}x{ny} ({covered} pixels covered), "
        f"{flagged} outlier pixels flagged; {n_sources} sources in the catalog; products in {outdir / 'image3'}"
    )
    record = {
        "seconds": round(elapsed, 3), "association": asn, "exposures": len(names),
        "steps": [{"step": a, "seconds": round(s, 4), "status": st} for a, s, st in result.timings],
        "mosaic_shape": [ny, nx], "pixels_covered": covered, "outlier_pixels_flagged": flagged,
        "n_sources": n_sources,
    }  # fmt: skip
    return result, record


def _product(result, suffix):
    return next((pathlib.Path(p) for p in result.written if str(p).endswith(suffix)), None)


def _mas(pair):
    return f"{pair[0]:+7.1f} {pair[1]:+7.1f}"


def _against_truth(console, sim, cals, result):
    """tweakreg's corrections, and the run against the simulator's truth; print them, return their report parts."""
    from astropy.table import QTable, Table
    from rich.table import Table as RichTable

    from gpucal.report.run_report import load_alignment, tweakreg_corrections
    from gpucal.report.truth import compare_catalog, pointing_recovery

    alignment = load_alignment(cals, [p for p in result.written if str(p).endswith("_crf.fits")])
    parts = {"tweakreg": tweakreg_corrections(alignment), "truth": {}}
    truth = Table.read(sim.truth_catalog)
    shapes = {item.root: item.shape for item in alignment}
    if alignment:
        recovery = pointing_recovery(
            truth, Table.read(sim.truth_pointings), {a.root: a.before for a in alignment},
            {a.root: a.after for a in alignment}, shapes, aligned={a.root: a.aligned for a in alignment},
        )  # fmt: skip
        parts["truth"]["pointing"] = recovery.to_dict()
        table = RichTable(title=f"tweakreg vs the simulator's truth (mas east north; relative to {alignment[0].root})")
        for column in ("exposure", "S_TWKREG", "shift applied", "injected", "recovered", "error"):
            table.add_column(column, justify="left" if column == "exposure" else "right", no_wrap=True)
        for row, shift, item in zip(recovery.relative(), parts["tweakreg"], alignment, strict=True):
            table.add_row(item.root, item.status or "-", _mas((shift["shift_east_mas"], shift["shift_north_mas"])),
                          _mas(row["injected"]), _mas(row["recovered"]), f"{row['error']:.1f}")  # fmt: skip
        console.print(table)
        common = recovery.common_offset_mas
        verdict = (
            f"recovered within {recovery.max_error_mas:.1f} mas of the injected errors"
            if any(a.aligned for a in alignment)
            else "no exposure was corrected (see tweakreg's messages above)"
        )
        console.print(
            f"pointing: {verdict}; exposures still misaligned by up to {recovery.max_misalignment_mas:.1f} mas; "
            f"the set's common offset from the sky ({common[0]:+.1f}, {common[1]:+.1f}) mas stays (tweakreg without "
            "abs_refcat aligns the exposures to each other)"
        )
    cat_path = _product(result, "_cat.ecsv")
    if cat_path is not None and shapes:
        comparison = compare_catalog(truth, QTable.read(cat_path), shapes)
        parts["truth"]["catalog"] = comparison.to_dict()
        fluxes = "; ".join(
            f"{kind} {ratio.median:.3f} ± {ratio.scatter:.3f} (n={ratio.n})"
            for kind, ratio in comparison.flux.items()
            if ratio.n
        )
        console.print(
            f"catalog: {comparison.n_matched} of {comparison.n_truth} truth sources brighter than AB "
            f'{comparison.mag_limit} have a counterpart within {comparison.radius_arcsec}" '
            f"(completeness {comparison.completeness:.1%}; the catalog's common offset "
            f"({comparison.offset_mas[0]:+.1f}, {comparison.offset_mas[1]:+.1f}) mas removed first); "
            f"{comparison.flux_column} / true flux: {fluxes or 'no matched source'}"
        )
    return parts


def _quicklook(console, result, path):
    """The mosaic's quick-look PNG with the catalog's sources; says so and goes on when matplotlib is missing."""
    from gpucal.report.quicklook import PlotUnavailableError, quicklook

    i2d = _product(result, "_i2d.fits")
    if i2d is None:
        return {"path": None, "error": "no mosaic (resample skipped)"}
    try:
        made = quicklook(i2d, path, catalog=_product(result, "_cat.ecsv"), find_catalog=False)
    except PlotUnavailableError as exc:
        console.print(f"quick-look PNG not written: {exc}")
        return {"path": None, "error": str(exc)}
    console.print(f"quick-look: {made.path} ({made.n_sources} sources marked)")
    return {"path": made.path, "catalog": made.catalog, "n_sources": made.n_sources}
