"""``gpucal farm image2|image3``: run a pipeline over many inputs on a Dask cluster, one task per input."""

import pathlib

__all__ = ["add_parser", "run"]


def add_parser(sub):
    parser = sub.add_parser(
        "farm", help="run image2 or image3 over many inputs on Dask (local cluster, scheduler, or one worker per GPU)"
    )
    parser.add_argument("pipeline", choices=["image2", "image3"], help="the pipeline to run")
    parser.add_argument(
        "inputs", nargs="+", type=pathlib.Path,
        help="image2: _rate/_rateints files or image2 associations; image3: image3 associations (one task each)",
    )  # fmt: skip
    parser.add_argument("--output-dir", type=pathlib.Path, default=pathlib.Path("."), help="output folder (default: .)")
    parser.add_argument(
        "--scheduler", default=None, help="address of a running Dask scheduler (default: start a local cluster)"
    )
    parser.add_argument("--workers", type=int, default=None, help="local workers (default: one per core, or per GPU)")
    parser.add_argument("--gpus", action="store_true", help="one worker per GPU (dask-cuda)")
    parser.add_argument("--device", default="auto", help="device for each worker: auto, cpu, cuda (default: auto)")
    parser.add_argument(
        "--ref-dir", type=pathlib.Path, default=None, help="local reference folder (default: $GPUCAL_REF_DIR)"
    )
    parser.add_argument("--config", type=pathlib.Path, default=None, help="jwst parameter file for the pipeline")
    parser.add_argument("--retries", type=int, default=1, help="retries of a task whose worker died (default: 1)")
    return parser


def run(args):
    from gpucal.farm import connect, run_many

    steps = getattr(args, "steps", {})
    client = connect(args.scheduler, workers=args.workers, gpus=args.gpus)
    try:
        results = run_many(
            args.pipeline, args.inputs, client=client, output_dir=args.output_dir, steps=steps, device=args.device,
            ref_dir=args.ref_dir, config_file=args.config, retries=args.retries,
        )  # fmt: skip
    finally:
        client.close()
    for task in results:
        status = "ok " if task.ok else "FAILED"
        print(f"{status} {task.input}  {task.seconds:.2f}s  {task.worker}  {task.error}")
    failed = sum(not t.ok for t in results)
    print(f"{len(results) - failed} processed, {failed} failed")
    return 1 if failed else 0
