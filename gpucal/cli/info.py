"""``gpucal info``: versions, devices, and what ``--device auto`` picks."""

import os
import platform

__all__ = ["add_parser", "collect", "run"]


def add_parser(sub):
    parser = sub.add_parser("info", help="show versions, devices and what 'auto' picks")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return parser


def collect():
    """Everything ``gpucal info`` reports, as a dict."""
    from gpucal.engine import cuda_status, select_device
    from gpucal.engine.cache import cache_root
    from gpucal.report.run_report import software_versions

    versions = software_versions()
    status = cuda_status()
    auto = select_device("auto", require_gpu=False)
    return {
        "versions": versions,
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores",
        "cuda": {
            "usable": status.usable,
            "simulated": status.simulated,
            "reason": status.reason,
            "gpus": [
                {
                    "index": g.index,
                    "name": g.name,
                    "memory_gib": round(g.total_memory / 2**30, 1),
                    "compute_capability": g.compute_capability,
                }
                for g in status.gpus
            ],
        },
        "auto_device": str(auto),
        "cache_dir": str(cache_root()),
        "require_gpu_env": os.environ.get("GPUCAL_REQUIRE_GPU", ""),
    }


def run(args):
    info = collect()
    if args.json:
        import json

        print(json.dumps(info, indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title=f"gpucal {info['versions']['gpucal']}", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("platform", info["platform"])
    table.add_row("packages", ", ".join(f"{k} {v}" for k, v in info["versions"].items() if k != "gpucal"))
    cuda = info["cuda"]
    table.add_row("CUDA", escape(("usable" if cuda["usable"] else "not usable") + f" ({cuda['reason']})"))
    for gpu in cuda["gpus"]:
        table.add_row(
            f"  cuda:{gpu['index']}",
            f"{gpu['name']}, {gpu['memory_gib']} GiB, compute capability {gpu['compute_capability']}",
        )
    table.add_row("--device auto", info["auto_device"])
    table.add_row("kernel cache", info["cache_dir"])
    console.print(table)
    return 0
