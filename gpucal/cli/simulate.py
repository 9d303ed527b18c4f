"""``gpucal simulate``: write simulated exposures, reference files, ASNs and a truth catalog."""

import dataclasses
import pathlib

__all__ = ["add_parser", "run"]


def add_parser(sub):
    parser = sub.add_parser(
        "simulate",
        help="simulate a dithered JWST imaging observation with its reference files",
        description=(
            "Write simulated _rate files, CRDS-format reference files, image2/image3 associations and a truth catalog."
        ),
    )
    parser.add_argument("outdir", type=pathlib.Path, help="output folder (created if needed)")
    parser.add_argument(
        "--instrument", default=None,
        help="nircam, miri, niriss, fgs or nirspec (default: nircam, or the instrument of --exp-type)",
    )  # fmt: skip
    parser.add_argument(
        "--detector", default=None,
        help="e.g. nrca1..nrcb5, mirimage, nis, guider1, guider2, nrs1, nrs2 "
        "(default: nrca1 / mirimage / nis / guider1 / nrs1)",
    )  # fmt: skip
    parser.add_argument(
        "--filter", default=None,
        help="e.g. f200w, f770w, f150w, f480m-nrm, clear, f110w, f140x "
        "(default: f200w / f770w / f150w / clear / f110w)",
    )  # fmt: skip
    parser.add_argument(
        "--exp-type", default=None, dest="exp_type",
        help="an imaging EXP_TYPE of image2 (NRC_CORON, MIR_LYOT, NIS_AMI, FGS_FOCUS, NRS_TACQ, ...): exposures of "
        "that mode, with the mode's default detector, filter and size (default: science imaging; see gpucal.sim.modes)",
    )  # fmt: skip
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
    from gpucal.sim.modes import simulate_mode

    kwargs = {"exposures": args.exposures, "backgrounds": args.backgrounds, "seed": args.seed}
    for name in ("instrument", "detector", "filter", "size"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    if args.exp_type is not None:
        result = simulate_mode(args.outdir, args.exp_type, **kwargs)
    else:
        result = simulate(args.outdir, **kwargs)
    files = _files(result)
    for kind, path in files:
        print(f"{kind:<24} {path}")
    print(f"wrote {len(files)} files to {args.outdir}")
    return 0
