"""Simulated JWST imaging exposures and reference files that jwst 3.0 accepts as real.

The simulator lets every part of gpucal run and be tested offline:

* :func:`simulate` writes a dithered observation (``_rate`` files, dedicated
  backgrounds, image2/image3 associations, truth catalogs) with its
  reference files;
* :func:`make_reference_files` / :func:`make_reference_data` build the
  CRDS-format distortion, filteroffset, flat, photom and area references of
  a detector and filter (NIRSpec: a flat and its optical-model references);
* :func:`make_exposure` makes one exposure in memory;
* :func:`gpucal.sim.modes.simulate_mode` makes exposures of any imaging
  EXP_TYPE of image2, NIRSpec's imaging modes included.

The distortion comes from the SIAF coefficients shipped with pysiaf (the
``sim`` extra); the XML is read directly, pysiaf itself is never imported.
NIRSpec has no distortion reference: its WCS comes from a simulated optical
model (:mod:`gpucal.sim.nirspec`, written as CRDS files by
:mod:`gpucal.sim.nirspec_refs`) placed where the SIAF has its detectors.
"""

from gpucal.sim.exposure import SimulatedExposure, make_exposure, sky_brightness
from gpucal.sim.instruments import choose_subarray, detector_spec, filter_spec, readout_for, resolve_options
from gpucal.sim.meta import ObservationIds
from gpucal.sim.observation import SimulationResult, dither_offsets, simulate
from gpucal.sim.reffiles import ReferenceData, make_reference_data, make_reference_files, write_reference_files
from gpucal.sim.scene import Scene, make_scene

__all__ = [
    "ObservationIds",
    "ReferenceData",
    "Scene",
    "SimulatedExposure",
    "SimulationResult",
    "choose_subarray",
    "detector_spec",
    "dither_offsets",
    "filter_spec",
    "make_exposure",
    "make_reference_data",
    "make_reference_files",
    "make_scene",
    "readout_for",
    "resolve_options",
    "simulate",
    "sky_brightness",
    "write_reference_files",
]
