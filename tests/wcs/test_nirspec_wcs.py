"""NIRSpec imaging WCS: gpucal's builder against jwst 3.0's ``assign_wcs.nirspec.imaging``.

The references here are written by stdatamodels' own model classes (the
official writer), with simple but non-trivial optics (offsets, a GWA tilt
calibration, a wavelength-independent FORE); the simulator's references are
exercised by the parity tier. jwst and stdatamodels are the reference
implementation, so these tests skip cleanly without them.
"""

import pathlib
import warnings

import numpy as np
import pytest

from gpucal.errors import InputFileError, ReferenceFileError
from gpucal.io.refs.nirspec import NIRSPEC_OPTICS_REFTYPES, read_nirspec_optics
from gpucal.wcs.nirspec import NIRSPEC_FULL_RANGE, nirspec_imaging_wcs, spectral_order_and_range
from gpucal.wcs.pointing import Pointing

dm = pytest.importorskip("stdatamodels.jwst.datamodels")

POINTING = Pointing(53.16, -27.78, 131.0, 378.6, -428.3, 1.000021)
RANGES = {
    "F110W_MIRROR": (0, [1.0e-6, 1.27e-6]),
    "F140X_MIRROR": (0, [0.8e-6, 2.0e-6]),
    "CLEAR_PRISM": (0, [0.6e-6, 5.3e-6]),
}


def _meta(model, reftype, **instrument):
    model.meta.reftype = reftype
    model.meta.instrument.name = "NIRSPEC"
    for key, value in instrument.items():
        setattr(model.meta.instrument, key, value)
    model.meta.exposure.type = "NRS_IMAGE"
    model.meta.exposure.p_exptype = "NRS_IMAGE|NRS_TACQ|NRS_MSATA|"
    model.meta.author, model.meta.pedigree, model.meta.description = "gpucal tests", "DUMMY", "test optics"
    model.meta.useafter = "2015-01-01T00:00:00"


def _write_optics(folder):
    """One reference of each type, written by stdatamodels; returns ``{reftype: path}``."""
    from astropy.modeling import models as m

    def scaled(scale, x0, y0):
        return (m.Shift(x0) & m.Shift(y0)) | (m.Scale(scale) & m.Scale(scale))

    fpa = dm.FPAModel()
    _meta(fpa, "fpa")
    fpa.nrs1_model = scaled(18e-6, -1024.5, -1024.5) | (m.Shift(-0.0195) & m.Shift(0.0003)) | m.Rotation2D(0.02)
    fpa.nrs2_model = scaled(18e-6, -1024.5, -1024.5) | (m.Shift(0.0195) & m.Shift(-0.0002)) | m.Rotation2D(-0.01)
    camera = dm.CameraModel()
    _meta(camera, "camera")
    camera.model = (m.Scale(1 / 0.3) & m.Scale(1 / 0.3)) | m.Rotation2D(0.3)
    collimator = dm.CollimatorModel()
    _meta(collimator, "collimator")
    collimator.model = (m.Shift(0.01) & m.Shift(-0.02)) | (m.Scale(0.87) & m.Scale(0.87))
    fore_model = m.Mapping((0, 1), n_inputs=3) | (m.Scale(0.021) & m.Scale(0.021))
    fore_model.inverse = m.Mapping((0, 1), n_inputs=3) | (m.Scale(1 / 0.021) & m.Scale(1 / 0.021))
    fore = dm.FOREModel()
    _meta(fore, "fore", filter="F110W")
    fore.model = fore_model
    ote = dm.OTEModel()
    _meta(ote, "ote")
    ote.model = (m.Scale(3000.0) & m.Scale(3000.0)) | m.Rotation2D(-41.4) | (m.Shift(378.6) & m.Shift(-428.3))
    disperser = dm.DisperserModel()
    _meta(disperser, "disperser", grating="MIRROR")
    disperser.theta_x, disperser.theta_y, disperser.theta_z, disperser.tilt_y = 0.0257, -0.118, 0.045, -8.62
    disperser.groovedensity = 0.0
    for key, slope, zero in (("gwa_tiltx", 1021.0, 0.31), ("gwa_tilty", 812.0, 0.17)):
        setattr(disperser, key, {"temperatures": [39.0], "tilt_model": m.Polynomial1D(1, c0=0.4, c1=slope),
                                 "unit": "arcsec", "zeroreadings": [zero]})  # fmt: skip
    wavelengthrange = dm.WavelengthrangeModel()
    _meta(wavelengthrange, "wavelengthrange")
    wavelengthrange.waverange_selector = list(RANGES)
    wavelengthrange.wavelengthrange = [r for _, r in RANGES.values()]
    wavelengthrange.order = [o for o, _ in RANGES.values()]
    wavelengthrange.wunits = "m"
    paths = {}
    models = {"fpa": fpa, "camera": camera, "collimator": collimator, "fore": fore, "ote": ote,
              "disperser": disperser, "wavelengthrange": wavelengthrange}  # fmt: skip
    for reftype, model in models.items():
        paths[reftype] = str(folder / f"test_nirspec_{reftype}.asdf")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(paths[reftype])
    return paths


@pytest.fixture(scope="module")
def optics_paths(tmp_path_factory):
    return _write_optics(tmp_path_factory.mktemp("nirspec_optics"))


def _science(detector, filter, xstart, ystart, shape, xtilt, ytilt):
    model = dm.ImageModel(np.zeros(shape, np.float32))
    meta = model.meta
    meta.instrument.name, meta.instrument.detector, meta.instrument.filter = "NIRSPEC", detector, filter
    meta.instrument.grating, meta.instrument.lamp_state = "MIRROR", "NONE"
    meta.instrument.gwa_xtilt, meta.instrument.gwa_ytilt = xtilt, ytilt
    meta.exposure.type = "NRS_IMAGE"
    meta.subarray.xstart, meta.subarray.ystart = xstart, ystart
    for key in ("ra_ref", "dec_ref", "roll_ref", "v2_ref", "v3_ref"):
        setattr(meta.wcsinfo, key, getattr(POINTING, key))
    meta.velocity_aberration.scale_factor = POINTING.va_scale
    return model


@pytest.mark.parametrize(
    ("detector", "filter", "start", "tilts"),
    [
        ("NRS1", "F110W", (1, 1), (0.36, 0.12)),
        ("NRS2", "F140X", (1025, 97), (0.29, 0.2)),
        ("NRS2", "CLEAR", (1, 1), (None, None)),  # CLEAR_MIRROR is not listed: jwst falls back to the first MIRROR row
        ("NRS1", "OPAQUE", (33, 65), (0.31, None)),  # the WCS ends at the MSA, wavelength in microns
    ],
)
def test_the_wcs_is_jwsts(optics_paths, detector, filter, start, tilts):
    from gwcs import WCS
    from jwst.assign_wcs import nirspec

    shape = (48, 64)
    science = _science(detector, filter, *start, shape, *tilts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = WCS(nirspec.imaging(science, dict(optics_paths)))
    ours = nirspec_imaging_wcs(
        read_nirspec_optics(optics_paths), POINTING, detector=detector, filter=filter, grating="MIRROR", lamp="NONE",
        exp_type="NRS_IMAGE", xstart=start[0], ystart=start[1], gwa_xtilt=tilts[0], gwa_ytilt=tilts[1],
    )  # fmt: skip
    assert list(ours.wcs.available_frames) == list(theirs.available_frames)
    assert ours.spectral_order == science.meta.wcsinfo.spectral_order
    assert ours.waverange == (science.meta.wcsinfo.waverange_start, science.meta.wcsinfo.waverange_end)
    y, x = np.mgrid[-0.5 : shape[0] : 6.5, -0.5 : shape[1] : 6.5]
    for frame in theirs.available_frames[1:]:
        a = np.atleast_2d(ours.wcs.get_transform("detector", frame)(x, y))
        b = np.atleast_2d(theirs.get_transform("detector", frame)(x, y))
        scale = np.max(np.abs(b), axis=tuple(range(1, b.ndim)), keepdims=True) + 1e-30
        np.testing.assert_allclose(a / scale, b / scale, rtol=0, atol=1e-13, err_msg=frame)
    if filter != "OPAQUE":
        ra, dec = theirs(x, y)
        np.testing.assert_array_equal(
            ours.wcs(x, y), (ra, dec)
        )  # rotations agree to ~1e-16: same sky, bit for bit here
        xi, yi = ours.wcs.invert(ra, dec)
        xj, yj = theirs.invert(ra, dec)
        np.testing.assert_allclose((xi, yi), (xj, yj), rtol=0, atol=1e-9)
        np.testing.assert_allclose((xi, yi), (x, y), rtol=0, atol=1e-6)
        assert theirs.output_frame.name == ours.wcs.output_frame.name == "world"
    else:
        assert ours.wcs.output_frame.name == "msa"
        assert ours.wcs.get_transform("detector", "msa")(10.0, 20.0)[2] == pytest.approx(
            np.mean(RANGES["F110W_MIRROR"][1]) * 1e6
        )


def test_the_cal_wcs_needs_no_jwst_transform_classes(optics_paths, tmp_path):
    """Written with asdf, the WCS uses only gwcs/asdf-astropy tags and reads back to the same numbers."""
    import asdf

    ours = nirspec_imaging_wcs(read_nirspec_optics(optics_paths), POINTING, detector="NRS1", filter="F110W",
                               gwa_xtilt=0.3, gwa_ytilt=0.2)  # fmt: skip
    path = tmp_path / "wcs.asdf"
    asdf.AsdfFile({"wcs": ours.wcs}).write_to(path)
    text = path.read_text(errors="replace")
    assert "jwst_pipeline" not in text and "stsci.edu/jwst" not in text
    with asdf.open(path) as af:
        np.testing.assert_array_equal(af["wcs"](100.0, 200.0), ours.wcs(100.0, 200.0))


def test_spectral_order_and_range_follows_jwst(optics_paths):
    from jwst.assign_wcs.nirspec import get_spectral_order_wrange

    table = read_nirspec_optics(optics_paths).wavelengthrange
    cases = [("F110W", "MIRROR", None, "NRS_IMAGE"), ("F070LP", "MIRROR", None, "NRS_IMAGE"),
             ("F110W", "G140M", None, "NRS_IMAGE"), ("OPAQUE", "PRISM", "LINE1", "NRS_IMAGE")]  # fmt: skip
    for filter, grating, lamp, exp_type in cases:
        science = _science("NRS1", filter, 1, 1, (4, 4), None, None)
        science.meta.instrument.grating, science.meta.instrument.lamp_state = grating, lamp
        science.meta.exposure.type = exp_type
        order, wrange = get_spectral_order_wrange(science, optics_paths["wavelengthrange"])
        ours = spectral_order_and_range(table, filter=filter, grating=grating, lamp=lamp, exp_type=exp_type)
        assert ours == (order, tuple(wrange)), (filter, grating)
    assert spectral_order_and_range(table, filter="F110W", grating="G395H") == (-1, NIRSPEC_FULL_RANGE)


def test_bad_references_are_named(optics_paths, tmp_path):
    wrong = dict(optics_paths, camera=optics_paths["collimator"])
    with pytest.raises(
        ReferenceFileError, match=r"test_nirspec_collimator\.asdf: reftype is 'collimator', expected a camera"
    ):
        read_nirspec_optics(wrong)
    with pytest.raises(ReferenceFileError, match="no ote, fore reference given"):
        read_nirspec_optics({k: v for k, v in optics_paths.items() if k not in ("fore", "ote")})
    truncated = tmp_path / "fpa.asdf"
    truncated.write_bytes(pathlib.Path(optics_paths["fpa"]).read_bytes()[:300])
    with pytest.raises(ReferenceFileError, match=r"fpa\.asdf: unreadable fpa reference"):
        read_nirspec_optics(dict(optics_paths, fpa=str(truncated)))
    with pytest.raises(InputFileError, match="NRS1 or NRS2"):
        nirspec_imaging_wcs(read_nirspec_optics(optics_paths), POINTING, detector="NRCA1", filter="F110W")
    assert set(NIRSPEC_OPTICS_REFTYPES) == set(optics_paths)
