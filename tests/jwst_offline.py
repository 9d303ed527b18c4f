"""Run the official jwst pipelines offline, with every reference file given by hand.

The parity tiers compare gpucal with jwst 3.0 run on the same (simulated)
inputs. jwst normally asks a CRDS server for reference files and for the
context in use; offline, the crds client ends the process (``sys.exit(-1)``)
after the first step unless it finds a local server configuration. This
module provides:

* :func:`crds_environment`: a throw-away CRDS cache and configuration, and
  the environment variables that make jwst use them (no network request);
* :func:`image2_step_options`: the ``override_<reftype>`` step options for
  calwebb_image2 from ``{reftype: path}`` (``"N/A"`` for the rest);
* :func:`run_pipeline` / :func:`run_image2`: run a jwst pipeline on an input
  (an ASN or a single file), from the input's folder (jwst opens ASN members
  relative to the working directory), in a separate Python process by
  default, so that a crds ``sys.exit`` or a crash cannot take the test run
  down and the environment of the calling process is left alone.

This file is also the script the subprocess runs (``python jwst_offline.py
<request.json>``); it imports nothing from the ``tests`` package.
"""

import contextlib
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time

__all__ = [
    "ASSIGN_WCS_NOT_APPLICABLE",
    "CRDS_CONTEXT",
    "PipelineRun",
    "crds_environment",
    "image2_step_options",
    "run_image2",
    "run_pipeline",
]

CRDS_CONTEXT = "jwst_0000.pmap"
#: The assign_wcs reftypes that do not apply to imaging.
ASSIGN_WCS_NOT_APPLICABLE = (
    "specwcs", "regions", "wavelengthrange", "camera", "chromcorr", "collimator", "disperser", "fore", "fpa", "msa",
    "ote", "ifupost", "ifufore", "ifuslicer",
)  # fmt: skip
_PIPELINES = {
    "Image2Pipeline": "jwst.pipeline.calwebb_image2",
    "Image3Pipeline": "jwst.pipeline.calwebb_image3",
}


def crds_environment(workdir):
    """Create a local CRDS cache and server configuration under ``workdir``; return the environment.

    Parameters
    ----------
    workdir : str or os.PathLike
        A scratch folder (created if needed).

    Returns
    -------
    dict of str to str
        Environment variables to set before jwst (crds) is imported.
    """
    workdir = pathlib.Path(workdir).resolve()
    cache = workdir / "crds_cache"
    config = workdir / "crds_config"
    cache.mkdir(parents=True, exist_ok=True)
    config.mkdir(parents=True, exist_ok=True)
    server_config = {
        "observatory": "jwst",
        "operational_context": CRDS_CONTEXT,
        "edit_context": CRDS_CONTEXT,
        "force_remote_mode": False,
        "last_synced": "2026-01-01 00:00:00",
        "download_metadata": "",
    }
    (config / "server_config").write_text(repr(server_config) + "\n")
    return {
        "CRDS_PATH": str(cache),
        "CRDS_SERVER_URL": "https://crds-offline.invalid",
        "CRDS_OBSERVATORY": "jwst",
        "CRDS_CONFIG_URI": str(config),
        "CRDS_CONTEXT": CRDS_CONTEXT,
        "STPIPE_DISABLE_CRDS_STEPPARS": "true",
    }


def image2_step_options(references, steps=None):
    """``steps`` options for calwebb_image2 with every reference overridden.

    Parameters
    ----------
    references : dict of str to path
        At least ``distortion``, ``flat``, ``photom``, ``area``; ``filteroffset`` too except for FGS,
        which has none (``"N/A"`` is passed then).
    steps : dict of str to dict, optional
        Extra options per step (e.g. ``{"resample": {"skip": True}}``), merged in.

    Returns
    -------
    dict of str to dict
    """
    refs = {key: str(pathlib.Path(value).resolve()) for key, value in references.items()}
    refs.setdefault("filteroffset", "N/A")
    missing = {"distortion", "flat", "photom", "area"} - set(refs)
    if missing:
        raise ValueError(f"references: missing {sorted(missing)}")
    options = {
        "bkg_subtract": {"override_bkg": "N/A", "override_wavelengthrange": "N/A"},
        "assign_wcs": {
            "override_distortion": refs["distortion"], "override_filteroffset": refs["filteroffset"],
            **{f"override_{name}": "N/A" for name in ASSIGN_WCS_NOT_APPLICABLE},
        },
        "flat_field": {
            "override_flat": refs["flat"], "override_fflat": "N/A", "override_sflat": "N/A", "override_dflat": "N/A",
        },
        "photom": {"override_photom": refs["photom"], "override_area": refs["area"]},
        "resample": {},
    }  # fmt: skip
    for step, extra in (steps or {}).items():
        options.setdefault(step, {}).update(extra)
    return options


@dataclasses.dataclass
class PipelineRun:
    """Outcome of a jwst pipeline run.

    Attributes
    ----------
    returncode : int
        0 on success (the subprocess's exit status).
    outputs : list of pathlib.Path
        Files the run created in the output folder.
    log : str
        Everything the run printed (stdout and stderr).
    seconds : float
        Wall-clock time of the run.
    """

    returncode: int
    outputs: list
    log: str
    seconds: float

    def products(self, suffix):
        """Outputs whose name ends with ``_<suffix>.fits`` (e.g. ``"cal"``)."""
        return [path for path in self.outputs if path.name.endswith(f"_{suffix}.fits")]


@contextlib.contextmanager
def _working_directory(path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _run_here(request):
    """Run a pipeline in this process (environment already set); used by the subprocess."""
    import importlib
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    module = importlib.import_module(_PIPELINES[request["pipeline"]])
    pipeline_class = getattr(module, request["pipeline"])
    input_path = pathlib.Path(request["input"])
    with _working_directory(input_path.parent):
        pipeline = pipeline_class(steps=request["steps"], output_dir=request["output_dir"], save_results=True)
        pipeline.run(input_path.name)


def run_pipeline(pipeline, input_path, output_dir, steps, *, workdir=None, timeout=900):
    """Run a jwst pipeline offline in a fresh Python process.

    Parameters
    ----------
    pipeline : {"Image2Pipeline", "Image3Pipeline"}
    input_path : str or os.PathLike
        An association or a single product; the run happens in its folder.
    output_dir : str or os.PathLike
        Where jwst writes its products (created if needed).
    steps : dict of str to dict
        Step options (see :func:`image2_step_options`).
    workdir : str or os.PathLike, optional
        Scratch folder for the CRDS cache (default: ``output_dir/_crds``).
    timeout : float
        Seconds before the run is killed.

    Returns
    -------
    PipelineRun
    """
    if pipeline not in _PIPELINES:
        raise ValueError(f"pipeline: one of {sorted(_PIPELINES)}, got {pipeline!r}")
    output_dir = pathlib.Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    workdir = pathlib.Path(workdir) if workdir is not None else output_dir / "_crds"
    env = {**os.environ, **crds_environment(workdir)}
    request = {
        "pipeline": pipeline,
        "input": str(pathlib.Path(input_path).resolve()),
        "output_dir": str(output_dir),
        "steps": steps,
    }
    request_path = workdir / "request.json"
    request_path.write_text(json.dumps(request, indent=1))
    before = {p for p in output_dir.iterdir() if p.is_file()}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(pathlib.Path(__file__).resolve()), str(request_path)],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    outputs = sorted(p for p in output_dir.iterdir() if p.is_file() and p not in before)
    return PipelineRun(done.returncode, outputs, done.stdout + done.stderr, seconds)


def run_image2(input_path, references, output_dir, *, steps=None, workdir=None, timeout=900):
    """Run jwst's calwebb_image2 offline on an ASN or a rate file with the given references.

    Parameters
    ----------
    input_path : str or os.PathLike
        Image2 association or ``_rate``/``_rateints`` file.
    references : dict of str to path
        By reftype (``distortion``, ``filteroffset``, ``flat``, ``photom``, ``area``).
    output_dir : str or os.PathLike
    steps : dict of str to dict, optional
        Extra step options, e.g. ``{"resample": {"skip": True}}``.

    Returns
    -------
    PipelineRun
    """
    return run_pipeline(
        "Image2Pipeline",
        input_path,
        output_dir,
        image2_step_options(references, steps),
        workdir=workdir,
        timeout=timeout,
    )


if __name__ == "__main__":
    _run_here(json.loads(pathlib.Path(sys.argv[1]).read_text()))
