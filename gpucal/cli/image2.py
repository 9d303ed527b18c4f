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
    parser.add_argument(
        "--reapply-complete-steps",
        action="store_true",
        help="apply bkg_subtract, flat_field and photom even where the input says they were applied "
        "(S_BKDSUB/S_FLAT/S_PHOTOM = COMPLETE, e.g. a _cal file); by default such steps are skipped with a warning",
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
        "reapply_complete_steps": args.reapply_complete_steps,
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
        print("  " + timing_line(getattr(exposure, "timings", [])))
    return 0


#: Timing entries that are I/O, not steps (see gpucal.pipelines.writer).
_IO_ENTRIES = ("read_wait", "write", "write_wait")


def timing_line(timings):
    """``bkg_subtract 0.1s, ... (steps 0.6s; read waited 0.0s; write 0.3s in background, waited 0.0s)``."""
    steps = [(alias, seconds) for alias, seconds, _ in timings if alias not in _IO_ENTRIES]
    io = {alias: seconds for alias, seconds, _ in timings if alias in _IO_ENTRIES}
    where = next((status for alias, _, status in timings if alias == "write"), "")
    line = ", ".join(f"{alias} {seconds:.3f}s" for alias, seconds in steps)
    line += f"  (steps {sum(s for _, s in steps):.3f}s; read waited {io.get('read_wait', 0.0):.3f}s"
    if "write" in io:
        line += f"; write {io['write']:.3f}s in {where}, waited {io.get('write_wait', 0.0):.3f}s"
    return line + ")"
