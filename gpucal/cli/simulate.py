"""``gpucal simulate``: write simulated exposures, reference files, ASNs and a truth catalog."""

import dataclasses
import pathlib

__all__ = ["add_parser", "run"]


def add_parser(sub):
    parser = sub.add_parser(
        "simulate",
        help="simulate a dithered JWST imaging observation with its reference files",
        description="Write simulated _rate files, CRDS-format reference files, image2/image3 associations and a truth catalog.",
    )
    parser.add_argument("outdir", type=pathlib.Path, help="output folder (created if needed)")
    parser.add_argument("--instrument", default="nircam", help="nircam or miri (default: nircam)")
    parser.add_argument("--detector", default=None, help="e.g. nrca1..nrcb5, mirimage (default: nrca1 / mirimage)")
    parser.add_argument("--filter", default=None, help="e.g. f200w, f770w (default: f200w / f770w)")
    parser.add_argument("--exposures", type=int, default=4, help="dithered science exposures (default: 4)")
    parser.add_argument("--backgrounds", type=int, default=2, help="dedicated background exposures (default: 2)")
    parser.add_argument(
        "--size", type=int, default=None, help="side of the science array in pixels (default: full frame)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    return parser


def _files(result):
    """(kind, path) pairs of everything a SimulationResult lists."""
    out = []
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, dict):
            out += [(f"{field.name}:{k}", v) for k, v in value.items() if isinstance(v, (str, pathlib.Path))]
        elif isinstance(value, (list, tuple)):
            out += [(field.name, v) for v in value if isinstance(v, (str, pathlib.Path))]
        elif isinstance(value, (str, pathlib.Path)) and field.name != "outdir":
            out.append((field.name, value))
    return out


def run(args):
    from gpucal.sim import simulate

    kwargs = {
        "instrument": args.instrument,
        "exposures": args.exposures,
        "backgrounds": args.backgrounds,
        "seed": args.seed,
    }
    for name in ("detector", "filter", "size"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    result = simulate(args.outdir, **kwargs)
    files = _files(result)
    for kind, path in files:
        print(f"{kind:<24} {path}")
    print(f"wrote {len(files)} files to {args.outdir}")
    return 0
