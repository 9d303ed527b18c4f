"""``gpucal plot``: a quick-look PNG of any ``_i2d`` mosaic (gpucal's or jwst's), its catalog's sources circled.

Needs matplotlib (``pip install gpucal[plot]``). Bad input (a missing file, no SCI extension, SCI not 2-D, a
catalog without centroid columns) is one line and exit code 4.
"""

import pathlib

__all__ = ["add_parser", "run"]


def add_parser(sub):
    parser = sub.add_parser("plot", help="quick-look PNG of an _i2d mosaic with its catalog's sources marked")
    parser.add_argument("i2d", type=pathlib.Path, help="the mosaic (_i2d.fits; only its SCI extension is read)")
    parser.add_argument("-o", "--output", type=pathlib.Path, default=None,
                        help="the PNG to write (default: beside the mosaic, X_i2d.png)")  # fmt: skip
    catalog = parser.add_mutually_exclusive_group()
    catalog.add_argument("--catalog", type=pathlib.Path, default=None,
                         help="source catalog to mark (default: X_cat.ecsv beside X_i2d.fits if there)")  # fmt: skip
    catalog.add_argument("--no-catalog", action="store_true", help="mark no sources")
    return parser


def run(args):
    from gpucal.report.quicklook import quicklook

    result = quicklook(args.i2d, args.output, catalog=args.catalog, find_catalog=not args.no_catalog)
    marked = f"{result.n_sources} sources from {result.catalog}" if result.catalog else "no catalog"
    print(f"wrote {result.path} ({marked})")
    return 0
