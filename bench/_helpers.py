"""Shared helpers for gpucal's benchmark scripts: environment capture, timing, synthetic data."""

import datetime
import os
import platform
import shlex
import sys
import time

import numpy as np

__all__ = ["best_of", "environment", "header", "make_cal_like", "per_product_summary", "run_measured"]


def environment(device="cpu"):
    """Device, date and command line of this run, for bench/RESULTS.md."""
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": device,
        "cpu": f"{cpu}, {os.cpu_count()} cores, numba threads {numba.get_num_threads()}",
        "python": platform.python_version(),
        "command": " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable), *sys.argv]),
    }


def header(title, device="cpu"):
    env = environment(device)
    print(f"# {title}")
    for key, value in env.items():
        print(f"# {key}: {value}")
    return env


def best_of(fn, repeat=5, setup=None, sync=None):
    """Best wall time of ``repeat`` calls (seconds); ``setup`` runs before each call, untimed."""
    best = float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        best = min(best, time.perf_counter() - start)
    return best


def make_cal_like(shape=(2048, 2048), seed=0):
    """Arrays of a full-frame ``_cal`` product (SCI, ERR, DQ, AREA, VAR_*)."""
    rng = np.random.default_rng(seed)
    arrays = {
        name: rng.normal(1.0, 0.1, shape).astype(np.float32)
        for name in ("data", "err", "area", "var_poisson", "var_rnoise", "var_flat")
    }
    arrays["dq"] = rng.integers(0, 4, shape, dtype=np.uint32)
    return arrays


def run_measured(cmd, env=None, cwd=None):
    """Run ``cmd``; return ``(wall seconds, peak resident MiB, combined output)``.

    The peak is the child's own ``VmHWM`` (polled from ``/proc`` until it exits),
    not ``wait4``'s ``ru_maxrss``: the latter also counts the pages the child
    shared with this (possibly large) benchmark process between fork and exec.
    """
    import subprocess
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    peak_kib = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak_kib = max(peak_kib, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    reader.join()
    seconds = time.perf_counter() - start
    output = "".join(chunks)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}):\n{output[-3000:]}")
    return seconds, peak_kib / 1024, output


def per_product_summary(samples):
    """Per-step seconds of a multi-product run: product 1, mean of products 2..N, mean of all N.

    Parameters
    ----------
    samples : dict of str to list of float
        Per step, one duration per product in processing order.

    Returns
    -------
    dict
        ``{"first": {step: s}, "rest": {step: s} or None, "all": {step: s}, "products": N}``. The first
        product is reported, never dropped: it carries one-time costs (gpucal combines the dither set's
        shared backgrounds once, in product 1; either pipeline may load code or caches there), so the
        honest per-product figure is the mean over all N, with "rest" showing the warm-process rate.
    """
    products = max((len(values) for values in samples.values()), default=0)
    first = {step: values[0] for step, values in samples.items() if values}
    rest = {step: sum(values[1:]) / len(values[1:]) for step, values in samples.items() if len(values) > 1}
    every = {step: sum(values) / len(values) for step, values in samples.items() if values}
    return {"first": first, "rest": rest or None, "all": every, "products": products}
