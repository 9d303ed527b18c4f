"""``gpucal image3``: Stage 3 imaging of an image3 association or a list of ``_cal`` files."""

import json
import pathlib

__all__ = ["add_parser", "run"]

EPILOG = """\
step parameters use jwst's names:
  --steps.<step>.<parameter>=<value>     e.g. --steps.skymatch.skymethod=global+match
                                              --steps.outlier_detection.snr="4.0 3.0"
                                              --steps.resample.pixfrac=0.8
steps: tweakreg, skymatch, outlier_detection, resample, source_catalog
source_catalog needs the APCORR and ABVEGAOFFSET references: --ref-dir, $GPUCAL_REF_DIR, a CRDS cache or
--steps.source_catalog.override_<reftype>; tweakreg's abs_refcat takes a catalog file (ECSV/FITS with RA/DEC)
"""


def add_parser(sub):
    import argparse

    from gpucal.cli._options import add_pipeline_options

    parser = sub.add_parser(
        "image3",
        help="Stage 3 imaging: tweakreg, skymatch, outlier_detection, resample, source_catalog",
        description="Combine calibrated JWST imaging exposures (_cal) into _crf files and an _i2d mosaic, "
        "as calwebb_image3.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=pathlib.Path, nargs="*", help="image3 association (.json), or _cal files")
    add_pipeline_options(parser, "calwebb_image3")
    parser.add_argument("--output-file", default=None, help="root of the mosaic's name (default: the product name)")
    parser.add_argument(
        "--in-memory", choices=("true", "false"), default=None,
        help="keep outlier detection's single drizzles in memory (default true; false: row-band files)",
    )  # fmt: skip
    return parser


def run(args):
    from gpucal.errors import ParameterError
    from gpucal.pipelines.image3.pipeline import Image3Pipeline, describe_parameters

    steps = getattr(args, "steps", {})
    inputs = [str(p) for p in args.input]
    if args.print_config:
        print(json.dumps(describe_parameters(), indent=2))
        return 0
    if not inputs:
        raise ParameterError("image3: an image3 association or at least one _cal file is required")
    kwargs = {
        "steps": steps,
        "device": args.device,
        "require_gpu": args.require_gpu,
        "save_results": True,
        "config_file": args.config,
        "output_file": args.output_file,
    }
    if args.output_dir is not None:
        kwargs["output_dir"] = str(args.output_dir)
    if args.ref_dir is not None:
        kwargs["ref_dir"] = str(args.ref_dir)
    if args.in_memory is not None:
        kwargs["in_memory"] = args.in_memory == "true"
    source = inputs[0] if len(inputs) == 1 else inputs
    result = Image3Pipeline.call(source, **kwargs)
    for path in result.written:
        print(f"wrote {path}")
    total = sum(t for _, t, _ in result.timings)
    steps = ", ".join(f"{alias} {seconds:.3f}s" for alias, seconds, _ in result.timings)
    print(f"  {steps}  (steps {total:.3f}s)")
    return 0
