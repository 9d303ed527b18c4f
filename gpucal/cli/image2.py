"""``gpucal image2``: Stage 2 imaging calibration of a ``_rate``/``_rateints`` file or an image2 ASN."""

import json
import pathlib

__all__ = ["add_parser", "run"]

EPILOG = """\
step parameters use jwst's names:
  --steps.<step>.<parameter>=<value>     e.g. --steps.flat_field.override_flat=my_flat.fits
                                              --steps.resample.skip=true
steps: bkg_subtract, assign_wcs, flat_field, photom, resample
"""


def add_parser(sub):
    import argparse

    from gpucal.cli._options import add_pipeline_options

    parser = sub.add_parser(
        "image2",
        help="Stage 2 imaging: bkg_subtract, assign_wcs, flat_field, photom, resample",
        description="Calibrate JWST imaging count-rate products into _cal (and _i2d) files, as calwebb_image2.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "input", type=pathlib.Path, nargs="?", help="_rate/_rateints FITS file or image2 association (.json)"
    )
    add_pipeline_options(parser, "calwebb_image2")
    parser.add_argument(
        "--save-bsub", action="store_true", default=None, help="deprecated: use --steps.bkg_subtract.save_results=true"
    )
    return parser


def run(args):
    from gpucal.errors import ParameterError
    from gpucal.pipelines.image2.pipeline import Image2Pipeline, describe_parameters

    steps = getattr(args, "steps", {})
    if args.print_config:
        print(json.dumps(describe_parameters(), indent=2))
        return 0
    if args.input is None:
        raise ParameterError("image2: an INPUT file or association is required")
    kwargs = {
        "steps": steps,
        "device": args.device,
        "require_gpu": args.require_gpu,
        "save_results": True,
        "config_file": args.config,
        "keep_arrays": False,  # memory flat in the number of products: arrays released once written
    }
    if args.output_dir is not None:
        kwargs["output_dir"] = str(args.output_dir)
    if args.ref_dir is not None:
        kwargs["ref_dir"] = str(args.ref_dir)
    if args.save_bsub:
        print("gpucal: notice: --save-bsub is deprecated; use --steps.bkg_subtract.save_results=true")
        kwargs["save_bsub"] = True
    results = Image2Pipeline.call(str(args.input), **kwargs)
    for exposure in results:
        for path in getattr(exposure, "written", []):
            print(f"wrote {path}")
        timings = getattr(exposure, "timings", [])
        total = sum(t for _, t, _ in timings)
        print("  " + ", ".join(f"{alias} {seconds:.3f}s" for alias, seconds, _ in timings) + f"  (steps {total:.3f}s)")
    return 0
