"""The farm's JSON run report, and what ``--resume`` may skip.

The report is one JSON file per pipeline in the output folder
(``gpucal-farm-<pipeline>.json``, and a copy at ``--report PATH``)::

    {"pipeline": "image2", "fingerprint": "...", "started": "...", "finished": "...",
     "summary": {"ok": 3, "failed": 1, "skipped": 0, "pending": 0},
     "inputs": [{"input": "/abs/x_rate.fits", "status": "ok", "products": ["/abs/out/x_cal.fits"],
                 "seconds": 2.1, "error": "", "worker": "host:1234", "attempts": 1, "threads": 4,
                 "device": "cuda:0 (CUDA_VISIBLE_DEVICES=1)"}, ...]}

It is rewritten atomically while the farm runs (at most every few seconds, and
at the end), so a farm that is itself killed still leaves a report of every
input that finished. ``status`` is ``ok``, ``failed``, ``skipped`` (complete
from an earlier run) or ``pending`` (not finished when the report was written).

``--resume`` skips an input only if the previous report lists it as ``ok`` or
``skipped`` under the same parameters (the ``fingerprint``: pipeline, step
parameters, parameter file contents, reference folder) and every product it
lists is complete when read back (:func:`gpucal.farm.products.product_problem`).
"""

import datetime
import hashlib
import json
import logging
import pathlib
import time

from gpucal.farm.products import product_problem
from gpucal.io.atomic import atomic_path

__all__ = ["RunReport", "default_report_path", "fingerprint", "resumable_inputs"]

log = logging.getLogger("gpucal")

#: Seconds between two rewrites of the report while the farm runs.
REWRITE_INTERVAL = 5.0


def default_report_path(output_dir, pipeline):
    """``<output_dir>/gpucal-farm-<pipeline>.json``."""
    return pathlib.Path(output_dir) / f"gpucal-farm-{pipeline}.json"


def fingerprint(pipeline, options):
    """A digest of what decides the products' content (not the device, threads or worker count).

    The parameter file enters by content, so editing it invalidates earlier products.
    """
    config = options.get("config_file")
    config_digest = hashlib.sha256(pathlib.Path(config).read_bytes()).hexdigest() if config else None
    material = {
        "pipeline": pipeline, "steps": options.get("steps") or {}, "ref_dir": options.get("ref_dir"),
        "config": config_digest, "output_dir": options.get("output_dir"),
    }  # fmt: skip
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def _now():
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class RunReport:
    """Per-input outcomes of one farm run, written atomically as JSON.

    Parameters
    ----------
    pipeline : str
    inputs : list of str
        Absolute input paths, in order; each starts ``pending``.
    paths : list of pathlib.Path
        Where the report is written (the output folder's, and ``--report``).
    fingerprint : str
        See :func:`fingerprint`.
    """

    def __init__(self, pipeline, inputs, paths, fingerprint):
        self.pipeline = pipeline
        self.paths = [pathlib.Path(p) for p in paths]
        self.fingerprint = fingerprint
        self.started = _now()
        self.finished = None
        self.entries = {path: _entry(path, "pending") for path in inputs}
        self._last_write = 0.0

    def record(self, task):
        """Record a :class:`~gpucal.farm.tasks.FarmTask` and rewrite the report if it is due."""
        self.entries[task.input] = {
            "input": task.input, "status": task.status, "products": list(task.written),
            "seconds": round(task.seconds, 3), "error": task.error, "worker": task.worker,
            "attempts": task.attempts, "threads": task.threads, "device": task.device,
        }  # fmt: skip
        if time.monotonic() - self._last_write >= REWRITE_INTERVAL:
            self.write()

    def summary(self):
        """``{status: count}`` over every input."""
        counts = {"ok": 0, "failed": 0, "skipped": 0, "pending": 0}
        for entry in self.entries.values():
            counts[entry["status"]] += 1
        return counts

    def to_dict(self):
        return {
            "pipeline": self.pipeline, "fingerprint": self.fingerprint, "started": self.started,
            "finished": self.finished, "summary": self.summary(), "inputs": list(self.entries.values()),
        }  # fmt: skip

    def write(self, *, final=False):
        """Write the report to every path atomically (``final`` stamps the finish time)."""
        if final:
            self.finished = _now()
        text = json.dumps(self.to_dict(), indent=1) + "\n"
        for path in self.paths:
            with atomic_path(path) as tmp:
                tmp.write_text(text)
        self._last_write = time.monotonic()


def _entry(path, status, products=(), error=""):
    return {"input": path, "status": status, "products": list(products), "seconds": 0.0, "error": error,
            "worker": "", "attempts": 0, "threads": 0, "device": ""}  # fmt: skip


def resumable_inputs(report_path, inputs, digest):
    """Inputs whose products, listed by an earlier report, are complete: ``{input: [products]}``.

    Parameters
    ----------
    report_path : pathlib.Path
        The earlier report (absent: nothing can be skipped).
    inputs : list of str
        Absolute input paths of this run.
    digest : str
        This run's :func:`fingerprint`; a report made with other parameters skips nothing.
    """
    report_path = pathlib.Path(report_path)
    if not report_path.is_file():
        log.info("farm: --resume: no earlier report at %s; every input runs", report_path)
        return {}
    try:
        previous = json.loads(report_path.read_text())
        entries = {e["input"]: e for e in previous["inputs"]}
        same = previous.get("fingerprint") == digest
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("farm: --resume: %s is not a readable report (%s); every input runs", report_path, exc)
        return {}
    if not same:
        log.warning("farm: --resume: parameters changed since %s; every input runs again", report_path)
        return {}
    complete = {}
    for path in inputs:
        entry = entries.get(path)
        if entry is None or entry.get("status") not in ("ok", "skipped") or not entry.get("products"):
            continue
        problems = {p: product_problem(p) for p in entry["products"]}
        bad = {p: why for p, why in problems.items() if why}
        if bad:
            for product, why in bad.items():
                log.warning("farm: --resume: %s runs again: %s is %s", path, product, why)
            continue
        complete[path] = list(entry["products"])
    return complete
