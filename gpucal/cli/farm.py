"""``gpucal farm image2|image3``: run a pipeline over many inputs on a Dask cluster, one task per input.

Where the workers come from, one of:

* nothing: a local cluster on this machine (``--workers``, one GPU per worker where GPUs are usable,
  ``--gpus`` for dask-cuda's ``LocalCUDACluster``);
* ``--scheduler tcp://host:8786``: a running Dask scheduler and its workers;
* ``--cluster slurm|pbs|sge|lsf|htcondor``: batch jobs through dask-jobqueue (``--cores``, ``--memory``,
  ``--jobs``, ``--cluster-config``).

Every option is checked, and the output folder written to, before any cluster starts. The exit code is 0
only if every input succeeded (or was skipped as complete with ``--resume``); the JSON run report in the
output folder says what happened to each input.
"""

import pathlib

__all__ = ["add_parser", "run"]

EPILOG = """\
examples:
  gpucal farm image2 data/*_rate.fits --workers 4 --output-dir cal/
  gpucal farm image2 data/*_rate.fits --scheduler tcp://head:8786 --output-dir /shared/cal --resume
  gpucal farm image3 asn/*_image3_asn.json --cluster slurm --cores 16 --memory 64GB --jobs 8
"""


def add_parser(sub):
    import argparse

    parser = sub.add_parser(
        "farm", help="run image2 or image3 over many inputs on Dask (local cluster, scheduler, or batch system)",
        description="Run image2 or image3 over many inputs on a Dask cluster, one task per input.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("pipeline", choices=["image2", "image3"], help="the pipeline to run")
    parser.add_argument(
        "inputs", nargs="+", type=pathlib.Path,
        help="image2: _rate/_rateints files or image2 associations; image3: image3 associations (one task each)",
    )  # fmt: skip
    parser.add_argument("--output-dir", type=pathlib.Path, default=pathlib.Path("."), help="output folder (default: .)")
    parser.add_argument("--device", default="auto", help="device for each worker: auto, cpu, cuda, cuda:N")
    parser.add_argument("--require-gpu", action="store_true", default=None, help="fail instead of using the CPU")
    parser.add_argument("--ref-dir", type=pathlib.Path, default=None, help="local reference folder")
    parser.add_argument("--config", type=pathlib.Path, default=None, help="jwst parameter file for the pipeline")
    parser.add_argument(
        "--retries", type=int, default=1,
        help="extra attempts for an input whose task was lost or failed unexpectedly (default: 1)",
    )  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="skip inputs whose products are complete (read back)")
    parser.add_argument("--report", type=pathlib.Path, default=None, help="also write the JSON run report here")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="numba threads per task, and BLAS threads on workers gpucal starts (default: cores / workers locally, "
        "1 on batch jobs; unchanged on --scheduler workers)",
    )  # fmt: skip
    where = parser.add_argument_group("where the workers come from (default: a local cluster)")
    where.add_argument("--workers", type=int, default=None, help="local workers (default: one per GPU, else per core)")
    where.add_argument("--gpus", action="store_true", help="local workers from dask-cuda's LocalCUDACluster")
    where.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (tcp://host:8786)")
    where.add_argument(
        "--connect-timeout", type=float, default=10.0, help="seconds to wait for --scheduler to answer (default: 10)"
    )
    where.add_argument("--cluster", choices=["slurm", "pbs", "sge", "lsf", "htcondor"], help="batch system")
    where.add_argument("--cluster-config", type=pathlib.Path, default=None, help="dask-jobqueue YAML configuration")
    where.add_argument("--cores", type=int, default=None, help="cores per batch job")
    where.add_argument("--memory", default=None, help="memory per batch job, e.g. 64GB")
    where.add_argument("--jobs", type=int, default=None, help="batch jobs to submit (default: 1)")
    return parser


def check_arguments(args):
    """Refuse out-of-range values and options that would be ignored with the chosen kind of cluster."""
    from gpucal.errors import ParameterError

    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers {args.workers}: must be at least 1")
    if args.retries < 0:
        raise ParameterError(f"--retries {args.retries}: must be 0 or more")
    if args.threads is not None and args.threads < 1:
        raise ParameterError(f"--threads {args.threads}: must be at least 1")
    if not args.connect_timeout > 0:
        raise ParameterError(f"--connect-timeout {args.connect_timeout}: must be more than 0 seconds")
    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"--jobs {args.jobs}: must be at least 1")
    batch = args.cluster is not None or args.cluster_config is not None
    local_only = [name for name, given in (("--workers", args.workers is not None), ("--gpus", args.gpus)) if given]
    batch_only = [name for name, given in (("--cores", args.cores is not None), ("--memory", args.memory is not None),
                                           ("--jobs", args.jobs is not None)) if given]  # fmt: skip
    if args.scheduler and (local_only or batch_only or batch):
        ignored = ", ".join(local_only + batch_only) or "--cluster"
        raise ParameterError(f"--scheduler uses the scheduler's workers; {ignored} does not apply")
    if batch and local_only:
        raise ParameterError(f"--cluster runs batch jobs; {', '.join(local_only)} does not apply (use --jobs)")
    if batch_only and not batch:
        raise ParameterError(f"{', '.join(batch_only)} only apply with --cluster")


def _start_client(args, plan):
    from gpucal.farm.cluster import connect

    if args.scheduler:
        return connect(args.scheduler, connect_timeout=args.connect_timeout)
    if args.cluster is not None or args.cluster_config is not None:
        from gpucal.farm.jobqueue import start_batch_cluster

        cluster = start_batch_cluster(
            args.cluster, jobs=args.jobs or 1, cores=args.cores, memory=args.memory, threads=args.threads or 1,
            config_path=args.cluster_config,
        )  # fmt: skip
        return connect(cluster=cluster, owned=True)
    from gpucal.engine.device import select_device

    if plan.options["require_gpu"]:
        select_device(args.device, require_gpu=True)  # no usable GPU here: exit 3 before any worker starts
    return connect(workers=args.workers, gpus=args.gpus, device=args.device, threads=args.threads)


def _print_task(task):
    label = {"ok": "ok     ", "skipped": "skipped", "failed": "FAILED "}[task.status]
    error = task.error.replace(f"{task.input}: ", "")  # the line names the input already (the report keeps it)
    tail = f"  {error}" if error else ""
    print(f"{label} {task.input}  {task.seconds:.2f}s  {task.worker}{tail}", flush=True)


def run(args):
    from gpucal.farm.tasks import execute_farm, prepare_farm

    check_arguments(args)
    plan = prepare_farm(
        args.pipeline, args.inputs, output_dir=args.output_dir, steps=getattr(args, "steps", {}), device=args.device,
        require_gpu=args.require_gpu, ref_dir=args.ref_dir, config_file=args.config, retries=args.retries,
        threads=args.threads, resume=args.resume, report=args.report,
    )  # fmt: skip
    for path in plan.skip:
        print(f"skipped {path}  (complete from an earlier run)")
    client = _start_client(args, plan) if len(plan.skip) < len(plan.inputs) else None
    try:
        results = execute_farm(plan, client, on_result=_print_task)
    finally:
        if client is not None:
            client.close()
    counts = plan.report.summary()
    print(
        f"{counts['ok']} processed, {counts['failed']} failed, {counts['skipped']} skipped; "
        f"report: {', '.join(str(p) for p in plan.report.paths)}"
    )
    return 0 if all(t.ok for t in results) else 1
