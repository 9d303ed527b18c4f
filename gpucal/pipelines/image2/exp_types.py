"""Which exposure types calwebb_image2 calibrates, and how (jwst 3.0's choices, one table).

jwst 3.0 sends an exposure through image2's steps whatever its EXP_TYPE; what
happens to it depends on the type:

* assign_wcs picks the WCS model by instrument and EXP_TYPE
  (``jwst/assign_wcs/{nircam,miri,niriss,fgs,nirspec}.py``, ``exp_type2transform``):
  every imaging type of NIRCam, MIRI, NIRISS and FGS gets the same
  distortion-reference imaging WCS (NIRCam, NIRISS and MIRI add the
  filteroffset shift, FGS has none); NIRSpec's imaging-mode types get the
  NIRSpec optical model (disperser, collimator, FORE, FPA, camera, OTE
  references); spectroscopic types get their spectral WCS;
* resample makes an ``_i2d`` only for ``MIR_IMAGE``, ``NRC_IMAGE``,
  ``NIS_IMAGE`` and ``FGS_IMAGE`` 2-D exposures (``Image2Pipeline.image_exptypes``);
* photom applies the instrument's row rules; NIRISS skips a 3-D (rateints)
  exposure (``DataModelTypeError``, S_PHOTOM = SKIPPED);
* time-series (TSO) and WFS&C visits skip steps through their parameter
  references (:mod:`gpucal.pipelines.image2.defaults`).

gpucal calibrates the types of :data:`IMAGING_WCS_EXP_TYPES` and
:data:`NIRSPEC_IMAGING_EXP_TYPES` exactly as jwst does and refuses every
other one before any step runs, with one line naming the file and the type
(:class:`~gpucal.errors.InputFileError`, exit code 4): spectroscopic types
belong to calwebb_spec2, and calibration and engineering types (darks, flats,
lamps) have no WCS in jwst either. NIRSpec's imaging-mode types are flat
fielded with the plain ``flat`` reference (not the fflat/sflat/dflat of its
spectroscopy) and are not flux calibrated: CRDS has no photom or area
reference for them, so photom is SKIPPED and the ``_cal`` stays in DN/s;
NRS_VERIFY gets the imaging WCS but no flat (jwst's flat_field does not list
it: SKIPPED, no flat reference looked up).
"""

from gpucal.errors import InputFileError

__all__ = [
    "IMAGE2_EXP_TYPES",
    "IMAGING_WCS_EXP_TYPES",
    "NIRSPEC_IMAGING_EXP_TYPES",
    "RESAMPLED_EXP_TYPES",
    "SPECTROSCOPIC_EXP_TYPES",
    "check_image2_exp_type",
    "exp_type_of",
]

#: EXP_TYPE -> INSTRUME of the types whose WCS is the distortion-reference imaging model (jwst's ``imaging``).
IMAGING_WCS_EXP_TYPES = {
    **dict.fromkeys(("NRC_IMAGE", "NRC_TSIMAGE", "NRC_CORON", "NRC_TACQ", "NRC_TACONFIRM", "NRC_FOCUS"), "NIRCAM"),
    **dict.fromkeys(("MIR_IMAGE", "MIR_LYOT", "MIR_4QPM", "MIR_CORONCAL", "MIR_TACQ", "MIR_TACONFIRM"), "MIRI"),
    **dict.fromkeys(("NIS_IMAGE", "NIS_AMI", "NIS_TACQ", "NIS_TACONFIRM", "NIS_FOCUS"), "NIRISS"),
    **dict.fromkeys(("FGS_IMAGE", "FGS_FOCUS"), "FGS"),
}
#: Types image2 resamples into an ``_i2d`` (2-D exposures only), jwst's ``image_exptypes``.
RESAMPLED_EXP_TYPES = ("MIR_IMAGE", "NRC_IMAGE", "NIS_IMAGE", "FGS_IMAGE")
#: NIRSpec imaging-mode types: jwst builds the NIRSpec optical-model WCS for them (``nirspec.imaging``).
NIRSPEC_IMAGING_EXP_TYPES = (
    "NRS_TACQ", "NRS_TASLIT", "NRS_TACONFIRM", "NRS_CONFIRM", "NRS_FOCUS", "NRS_IMAGE", "NRS_MIMF", "NRS_WATA",
    "NRS_MSATA", "NRS_VERIFY",
)  # fmt: skip
#: Spectroscopic types (jwst's calwebb_spec2 science types and the NIRSpec lamp and calibration modes).
SPECTROSCOPIC_EXP_TYPES = (
    "MIR_LRS-FIXEDSLIT", "MIR_LRS-SLITLESS", "MIR_MRS", "MIR_WFSS", "NIS_SOSS", "NIS_WFSS", "NRC_TSGRISM",
    "NRC_WFSS", "NRC_GRISM", "NRS_FIXEDSLIT", "NRS_IFU", "NRS_MSASPEC", "NRS_BRIGHTOBJ", "NRS_LAMP",
    "NRS_AUTOWAVE", "NRS_AUTOFLAT",
)  # fmt: skip
#: EXP_TYPE -> INSTRUME of every type gpucal's image2 calibrates.
IMAGE2_EXP_TYPES = {**IMAGING_WCS_EXP_TYPES, **dict.fromkeys(NIRSPEC_IMAGING_EXP_TYPES, "NIRSPEC")}
_SUPPORTED_TEXT = ", ".join(IMAGE2_EXP_TYPES)


def exp_type_of(meta):
    """The exposure's EXP_TYPE, upper case ("" when missing)."""
    return str(meta.exposure.type or "").strip().upper()


def check_image2_exp_type(meta, source):
    """Refuse an exposure calwebb_image2 cannot calibrate here; return its EXP_TYPE.

    Parameters
    ----------
    meta : gpucal.io.meta.Node
        The exposure's meta.
    source : str or os.PathLike
        The science file, named in the message.

    Returns
    -------
    str
        The EXP_TYPE (one of :data:`IMAGE2_EXP_TYPES`).

    Raises
    ------
    InputFileError
        A missing, spectroscopic or unknown EXP_TYPE, or one of another
        instrument than INSTRUME (exit code 4); the message names the file and the type.
    """
    exp_type = exp_type_of(meta)
    instrument = str(meta.instrument.name or "").strip().upper()
    if not exp_type:
        raise InputFileError(f"{source}: EXP_TYPE (missing): calwebb_image2 needs it to choose the calibration")
    if exp_type in IMAGE2_EXP_TYPES:
        wanted = IMAGE2_EXP_TYPES[exp_type]
        if instrument != wanted:
            raise InputFileError(
                f"{source}: EXP_TYPE {exp_type} is a {wanted} exposure type but INSTRUME is {instrument or '(missing)'}"
            )
        return exp_type
    if exp_type in SPECTROSCOPIC_EXP_TYPES:
        raise InputFileError(
            f"{source}: EXP_TYPE {exp_type} is a spectroscopic mode: calibrate it with calwebb_spec2, "
            "not calwebb_image2"
        )
    raise InputFileError(
        f"{source}: EXP_TYPE {exp_type} is not an imaging exposure type calwebb_image2 calibrates (gpucal supports "
        f"{_SUPPORTED_TEXT})"
    )
