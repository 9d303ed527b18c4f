"""The simulated NIRSpec optical model as CRDS references, and the imaging WCS the simulator draws with.

:func:`write_optics` writes the seven ASDF references of jwst's NIRSpec
imaging WCS (``disperser``, ``collimator``, ``fore``, ``fpa``, ``camera``,
``ote``, ``wavelengthrange``) from the models of :mod:`gpucal.sim.nirspec`,
in the layouts of stdatamodels' ``DisperserModel``, ``CollimatorModel``,
``FOREModel``, ``FPAModel``, ``CameraModel``, ``OTEModel`` and
``WavelengthrangeModel``, each with the meta a CRDS file carries (REFTYPE,
INSTRUME NIRSPEC, EXP_TYPE with P_EXP_TY listing NIRSpec's imaging types,
PEDIGREE, USEAFTER, AUTHOR, DESCRIP; P_DETECT NRS1|NRS2 as every file serves
both detectors; GRATING MIRROR for the disperser, FILTER for the fore optics,
which CRDS selects by filter).

:func:`exposure_wcs` builds an exposure's WCS with gpucal's NIRSpec WCS
builder (:func:`gpucal.wcs.nirspec.nirspec_imaging_wcs`) from these files as
read by :func:`gpucal.io.refs.nirspec.read_nirspec_optics`: the simulator
places its sources with exactly the WCS that the written references give.
The files it reads are written once per process into a private temporary
folder (the same bytes :func:`write_optics` writes anywhere else).
"""

import datetime
import functools
import pathlib
import tempfile

from gpucal.io.refs.nirspec import NIRSPEC_OPTICS_REFTYPES, read_nirspec_optics
from gpucal.sim import nirspec
from gpucal.sim.distortion import _write_asdf

__all__ = ["OPTICS_REFTYPES", "exposure_wcs", "optics_distortion", "optics_file_names", "simulator_optics",
           "write_optics"]  # fmt: skip

#: The reference types of the NIRSpec imaging WCS (the ones gpucal's reader takes).
OPTICS_REFTYPES = NIRSPEC_OPTICS_REFTYPES
_USEAFTER = "2022-01-01T00:00:00"
_DETECTORS = "NRS1|NRS2|"
_HOLDERS = []  # temporary folders kept for the life of the process


def _p_exptype():
    from gpucal.sim.instruments import IMAGE2_EXP_TYPES

    return "|".join(IMAGE2_EXP_TYPES["nirspec"]) + "|"


def _meta(reftype, model_type, description, **instrument):
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return {
        "author": "gpucal simulator",
        "date": now,
        "description": description,
        "exposure": {"type": "NRS_IMAGE", "p_exptype": _p_exptype()},
        "instrument": {"name": "NIRSPEC", "p_detector": _DETECTORS, **instrument},
        "model_type": model_type,
        "origin": "gpucal",
        "pedigree": "DUMMY",
        "reftype": reftype,
        "telescope": "JWST",
        "title": f"NIRSpec {reftype} (simulated)",
        "useafter": _USEAFTER,
    }


def _with_units(meta, input_units, output_units):
    meta["input_units"] = input_units
    meta["output_units"] = output_units
    return meta


def _tilt_sensor(name):
    from astropy.modeling.models import Polynomial1D

    slope, zero = nirspec.GWA_TILT_SENSORS[name]
    return {
        "temperatures": [nirspec.GWA_TEMPERATURE_K],
        "tilt_model": Polynomial1D(1, c0=-slope * zero, c1=slope, name=f"{name}_arcsec"),
        "unit": "arcsec",
        "zeroreadings": [zero],
    }


def write_disperser(path):
    """The GWA's MIRROR element: alignment angles (deg, as jwst uses them) and the two tilt-sensor calibrations."""
    meta = _meta("disperser", "DisperserModel", "GWA MIRROR alignment and tilt sensors, gpucal simulator",
                 grating="MIRROR")  # fmt: skip
    tree = {"meta": meta, **nirspec.MIRROR_ANGLES, "tilt_x": 0.0, "groovedensity": 0.0,
            "gwa_tiltx": _tilt_sensor("gwa_tiltx"), "gwa_tilty": _tilt_sensor("gwa_tilty")}  # fmt: skip
    return _write_asdf(tree, path)


def write_collimator(path):
    description = "Collimator: GWA tangents to MSA plane, gpucal simulator"
    meta = _with_units(_meta("collimator", "CollimatorModel", description), "unitless", "m")
    return _write_asdf({"meta": meta, "model": nirspec.collimator_model()}, path)


def write_camera(path):
    meta = _with_units(_meta("camera", "CameraModel", "Camera: FPA plane to GWA tangents, gpucal simulator"), "m",
                       "unitless")  # fmt: skip
    return _write_asdf({"meta": meta, "model": nirspec.camera_model()}, path)


def write_fpa(path):
    meta = _with_units(_meta("fpa", "FPAModel", "Detector placement: SCA pixels to FPA plane, gpucal simulator"),
                       "pixel", "m")  # fmt: skip
    tree = {"meta": meta, "nrs1_model": nirspec.fpa_model("NRS1"), "nrs2_model": nirspec.fpa_model("NRS2")}
    return _write_asdf(tree, path)


def write_fore(path, filter_name):
    """The fore optics with one filter in the beam (FILTER selects it, as in CRDS)."""
    description = f"Fore optics with {filter_name.upper()}: MSA plane to OTE image plane, gpucal simulator"
    meta = _with_units(_meta("fore", "FOREModel", description, filter=filter_name.upper()), "m", "deg")
    return _write_asdf({"meta": meta, "model": nirspec.fore_model(filter_name)}, path)


def write_ote(path):
    meta = _with_units(_meta("ote", "OTEModel", "OTE: OTE image plane to V2/V3, gpucal simulator"), "deg", "arcsec")
    return _write_asdf({"meta": meta, "model": nirspec.ote_model()}, path)


def write_wavelengthrange(path):
    description = "NIRSpec filter/grating wavelength ranges, gpucal simulator"
    meta = _meta("wavelengthrange", "WavelengthrangeModel", description)
    meta["wavelength_units"] = "m"
    rows = nirspec.WAVELENGTH_RANGES
    tree = {
        "meta": meta,
        "waverange_selector": [selector for selector, _, _ in rows],
        "order": [order for _, order, _ in rows],
        "wavelengthrange": [list(wrange) for _, _, wrange in rows],
    }
    return _write_asdf(tree, path)


def optics_file_names(filter_name):
    """``{reftype: file name}`` of the optics references (only the fore optics depend on the filter)."""
    names = {reftype: f"gpucal_sim_nirspec_{reftype}.asdf" for reftype in OPTICS_REFTYPES}
    names["disperser"] = "gpucal_sim_nirspec_mirror_disperser.asdf"
    names["fore"] = f"gpucal_sim_nirspec_{filter_name.lower()}_fore.asdf"
    return names


def write_optics(folder, filter_name):
    """Write the seven optics references for exposures through ``filter_name``; ``{reftype: path}``."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {reftype: folder / name for reftype, name in optics_file_names(filter_name).items()}
    write_disperser(paths["disperser"])
    write_collimator(paths["collimator"])
    write_fore(paths["fore"], filter_name)
    write_fpa(paths["fpa"])
    write_camera(paths["camera"])
    write_ote(paths["ote"])
    write_wavelengthrange(paths["wavelengthrange"])
    return paths


@functools.lru_cache(maxsize=1)
def _private_folder():
    holder = tempfile.TemporaryDirectory(prefix="gpucal-sim-nirspec-")
    _HOLDERS.append(holder)  # removed when the process exits
    return pathlib.Path(holder.name)


@functools.lru_cache(maxsize=8)
def simulator_optics(filter_name):
    """The optics references of a filter as gpucal reads them (written once per process into a private folder).

    Returns
    -------
    gpucal.io.refs.nirspec.NirspecOptics
    """
    filter_name = str(filter_name).upper()
    return read_nirspec_optics(write_optics(_private_folder() / filter_name.lower(), filter_name))


def exposure_wcs(detector, filter_spec, subarray, pointing, gwa):
    """The imaging gwcs of a NIRSpec exposure: science-array 0-based pixel -> ICRS (deg).

    Parameters
    ----------
    detector : gpucal.sim.instruments.DetectorSpec
    filter_spec : gpucal.sim.instruments.FilterSpec
    subarray : gpucal.sim.instruments.Subarray
    pointing : gpucal.wcs.pointing.Pointing
    gwa : gpucal.sim.nirspec.GwaReadings or None
        The exposure's tilt readings (None: the calibration readings, no tilt correction).
    """
    from gpucal.wcs.nirspec import nirspec_imaging_wcs

    result = nirspec_imaging_wcs(
        simulator_optics(filter_spec.filter), pointing, detector=detector.detector, filter=filter_spec.filter,
        grating="MIRROR", lamp="NONE", exp_type=detector.exp_type, xstart=subarray.xstart, ystart=subarray.ystart,
        gwa_xtilt=None if gwa is None else gwa.xtilt, gwa_ytilt=None if gwa is None else gwa.ytilt,
    )  # fmt: skip
    return result.wcs


def optics_distortion(detector, filter_spec):
    """Full-frame 0-based science pixel -> V2/V3 (arcsec) at the calibration GWA readings, with its inverse.

    What the distortion reference is to the other instruments: the simulator
    derives the pixel-area map from it.
    """
    from gpucal.sim.instruments import Subarray
    from gpucal.wcs.pointing import Pointing

    full = Subarray("FULL", 1, 1, detector.full_shape[1], detector.full_shape[0], detector.full_aperture.name)
    aperture = detector.full_aperture
    pointing = Pointing(0.0, 0.0, 0.0, aperture.v2_ref, aperture.v3_ref, None)
    wcs = exposure_wcs(detector, filter_spec, full, pointing, None)
    return wcs.get_transform("detector", "v2v3")
