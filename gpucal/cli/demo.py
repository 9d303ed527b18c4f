"""``gpucal demo``: simulate a dithered observation, calibrate it with image2, combine it with image3.

This is the README's main job: everything runs offline on built-in data. The
simulated reference files are found through gpucal's indexed local reference
folder (``--ref-dir``), as they would be in a reprocessing farm.
"""

import pathlib
import time

__all__ = ["add_parser", "run"]


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


def run(args):
    import logging

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from gpucal.engine import select_device
    from gpucal.io.exposure import read_exposure
    from gpucal.pipelines.image2 import Image2Pipeline
    from gpucal.sim import simulate

    if not getattr(args, "debug", False):
        logging.getLogger("gpucal").setLevel(logging.WARNING)  # the table below is the summary
    console = Console(width=max(Console().width, 140))
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
    ref_dir = pathlib.Path(next(iter(sim.references.values()))).parent
    console.print(
        f"simulated {len(sim.science)} exposures and {len(sim.background)} backgrounds in {simulated:.1f} s -> {args.outdir / 'sim'}"
    )

    pipeline = Image2Pipeline(
        device=device, save_results=True, output_dir=str(args.outdir / "image2"), ref_dir=str(ref_dir)
    )
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
    for asn in sim.image2_asn:
        t0 = time.perf_counter()
        (result,) = pipeline.run(str(asn))
        elapsed = time.perf_counter() - t0
        total += elapsed
        times = {alias: seconds for alias, seconds, _ in result.timings}
        i2d = next((p for p in result.written if str(p).endswith("_i2d.fits")), None)
        good = np.isfinite(result.data) & ((result.dq & 1) == 0)
        median = float(np.median(result.data[good])) if good.any() else float("nan")
        shape = read_exposure(i2d, required=("data",), arrays={"data"}).shape if i2d else None
        table.add_row(
            result.meta.filename.replace("_cal.fits", ""),
            *(f"{times[a]:.3f}" if a in times else "-" for a in ("bkg_subtract", "assign_wcs", "flat_field", "photom", "resample")),
            f"{elapsed:.2f}", f"{median:.4f}", f"{shape[1]}x{shape[0]}" if shape else "-",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"{len(sim.image2_asn)} exposures calibrated in {total:.1f} s ({total / max(1, len(sim.image2_asn)):.2f} s each); "
        f"products in {args.outdir / 'image2'}; truth catalog {sim.truth_catalog}"
    )
    console.print(
        "median: of the good pixels of the _cal (after background subtraction). On a first run the first "
        "exposure includes compiling the kernels; they are cached on disk for later processes."
    )
    if len(sim.image2_asn) > 1:
        _image3(console, sim, args.outdir, device)
    return 0


def _image3(console, sim, outdir, device):
    """Combine the calibrated exposures into a mosaic (calwebb_image3) and summarise it."""
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
    ny, nx = mosaic.data.shape
    console.print(
        f"image3: {len(names)} exposures combined in {elapsed:.1f} s; mosaic {nx}x{ny} ({covered} pixels covered), "
        f"{flagged} outlier pixels flagged; "
        f"{result.catalog.n_sources if result.catalog is not None else 0} sources in the catalog; "
        f"products in {outdir / 'image3'}"
    )
