"""calwebb_image2 on NIRSpec's imaging-mode exposure types: gpucal vs jwst 3.0.

One simulated exposure of every NIRSpec imaging type (``NRS_TACQ`` ...
``NRS_VERIFY``) goes into one image2 association per setup, so that jwst
runs once per setup: NRS1 small subarrays with F110W, NRS2 (flipped by
jwst's ``dms_to_sca``) with F140X and CLEAR (a ``_rateints`` cube, giving a
``_calints``), and lamp exposures with FILTER=OPAQUE
(LAMP=LINE1), whose WCS ends at the MSA plane (no FORE or OTE reference, no
S_REGION, no SIP). jwst builds the optical-model WCS from the simulator's seven optics
references, flat-fields with the plain flat and skips photom (no photom or
area reference for these modes: N/A); no ``_i2d``. Checked for every product,
on the CPU and in the CUDA path (numba's simulator without a GPU): SCI, ERR,
VAR_* to 1e-6 and DQ identical, the WCS to 1e-9 deg and its inverse, the
S_*/R_* keywords (the optics references included), BUNIT (DN/s), WAVSTART,
WAVEND, SPORDER, S_REGION and the SIP approximation.
"""

import dataclasses

import numpy as np
import pytest
from astropy.io import fits

from gpucal.io.asn import Association, Member, Product, write_asn
from gpucal.io.exposure import read_exposure, write_exposure
from gpucal.io.refs.nirspec import NIRSPEC_OPTICS_REFTYPES
from gpucal.pipelines.image2 import Image2Pipeline
from gpucal.pipelines.image2.exp_types import NIRSPEC_IMAGING_EXP_TYPES
from gpucal.sim.modes import simulate_mode
from tests.jwst_offline import ASSIGN_WCS_NOT_APPLICABLE, run_pipeline
from tests.parity._compare import assert_arrays_match, assert_keywords_match, assert_wcs_match

ARRAYS = ["SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"]
KEYWORDS = [
    "PRIMARY:EXP_TYPE", "PRIMARY:S_WCS", "PRIMARY:S_FLAT", "PRIMARY:S_PHOTOM", "PRIMARY:S_BKDSUB", "PRIMARY:R_FLAT",
    "PRIMARY:R_FFLAT", "PRIMARY:R_PHOTOM", "PRIMARY:R_AREA", "PRIMARY:R_DISTOR", "PRIMARY:R_FILOFF",
    "PRIMARY:R_DISPER", "PRIMARY:R_COLLIM", "PRIMARY:R_FORE", "PRIMARY:R_FPA", "PRIMARY:R_CAMERA", "PRIMARY:R_OTE",
    "PRIMARY:R_WAVRAN", "PRIMARY:R_MSA", "SCI:BUNIT", "ERR:BUNIT", "SCI:PHOTMJSR", "SCI:PIXAR_SR", "SCI:WAVSTART",
    "SCI:WAVEND", "SCI:SPORDER", "SCI:S_REGION", "SCI:CTYPE1", "SCI:CTYPE2", "SCI:CRPIX1", "SCI:CRPIX2", "SCI:CRVAL1",
    "SCI:CRVAL2",
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Setup:
    detector: str
    filter: str
    size: int
    exp_types: tuple  # EXP_TYPE, or (EXP_TYPE, integrations) for a _rateints cube
    lamp: str | None = None  # set: the exposures are relabelled FILTER=OPAQUE with this LAMP


SETUPS = {
    "nrs1_f110w": Setup("nrs1", "f110w", 64, NIRSPEC_IMAGING_EXP_TYPES),
    "nrs2_f140x": Setup("nrs2", "f140x", 64, ("NRS_IMAGE", "NRS_MSATA", "NRS_WATA", ("NRS_FOCUS", 2))),
    "nrs1_opaque": Setup("nrs1", "f110w", 48, ("NRS_CONFIRM", "NRS_MIMF"), lamp="LINE1"),
}


def nirspec_step_options(references, steps=None):
    """jwst's calwebb_image2 options for a NIRSpec imaging exposure: every reference given, photom/area N/A.

    A reference missing from ``references`` (``fore`` and ``ote`` for OPAQUE) is passed as N/A.
    """
    assign_wcs = {f"override_{name}": "N/A" for name in ("distortion", "filteroffset", *ASSIGN_WCS_NOT_APPLICABLE)}
    optics = [name for name in NIRSPEC_OPTICS_REFTYPES if name in references]
    assign_wcs.update({f"override_{name}": str(references[name]) for name in optics})
    options = {
        "bkg_subtract": {"override_bkg": "N/A", "override_wavelengthrange": "N/A"},
        "assign_wcs": assign_wcs,
        "flat_field": {"override_flat": str(references["flat"])}
        | {f"override_{name}": "N/A" for name in ("fflat", "sflat", "dflat")},
        "photom": {"override_photom": "N/A", "override_area": "N/A"},
        "resample": {},
    }
    for step, extra in (steps or {}).items():
        options.setdefault(step, {}).update(extra)
    return options


@dataclasses.dataclass
class NirspecRun:
    asn: object
    references: dict
    products: dict  # product name -> (EXP_TYPE, is a cube)
    jwst: object


@pytest.fixture(scope="module", params=list(SETUPS))
def nirspec_run(request, tmp_path_factory):
    setup = SETUPS[request.param]
    root = tmp_path_factory.mktemp(request.param)
    folder = root / "asn"
    folder.mkdir()
    products, members, references = {}, [], None
    for k, mode in enumerate(setup.exp_types, start=1):
        exp_type, nints = (mode, 1) if isinstance(mode, str) else mode
        sim = simulate_mode(root / "sim" / exp_type, exp_type, detector=setup.detector, filter=setup.filter,
                            size=setup.size, nints=nints, seed=60 + k)  # fmt: skip
        references = references or dict(sim.references)
        name = f"jw00001001001_02101_{k:05d}_{setup.detector}"
        suffix = "rateints" if nints > 1 else "rate"
        exposure = read_exposure((sim.science_ints if nints > 1 else sim.science)[0])
        if setup.lamp:
            exposure.meta.instrument.filter, exposure.meta.instrument.lamp_state = "OPAQUE", setup.lamp
        write_exposure(exposure, folder / f"{name}_{suffix}.fits")
        members.append(Product(name, [Member(f"{name}_{suffix}.fits", "science")]))
        products[name] = (exp_type, nints > 1)
    if setup.lamp:  # a flat for FILTER=OPAQUE; no FORE or OTE
        flat = root / "opaque_flat.fits"
        with fits.open(references["flat"]) as hdus:
            hdus[0].header["FILTER"] = "OPAQUE"
            hdus.writeto(flat)
        references = {k: v for k, v in references.items() if k not in ("fore", "ote")} | {"flat": flat}
    asn = write_asn(Association("image2", "o001", members, asn_pool="jw00001_pool", asn_rule="Asn_Lv2Image"),
                    folder / f"jw00001-o001_{request.param}_image2_asn.json")  # fmt: skip
    jwst = run_pipeline("Image2Pipeline", asn, root / "jwst", steps=nirspec_step_options(references))
    assert jwst.returncode == 0, jwst.log[-3000:]
    return NirspecRun(asn, references, products, jwst)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_every_nirspec_imaging_type_matches_jwst(nirspec_run, device, tmp_path):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    out = tmp_path / "ours"
    steps = nirspec_step_options(nirspec_run.references)
    results = Image2Pipeline.call(str(nirspec_run.asn), steps=steps, device=device, save_results=True,
                                  output_dir=str(out))  # fmt: skip
    assert len(results) == len(nirspec_run.products)
    assert not nirspec_run.jwst.products("i2d") and not list(out.glob("*_i2d.fits"))
    for name, (exp_type, cube) in nirspec_run.products.items():
        theirs = next(p for p in nirspec_run.jwst.outputs if p.name == f"{name}_{'calints' if cube else 'cal'}.fits")
        ours = out / theirs.name
        with fits.open(theirs) as cal, fits.open(ours) as mine:
            extensions = [hdu.name for hdu in cal if hdu.name != "ASDF"]
            assert [hdu.name for hdu in mine if hdu.name != "ASDF"] == extensions  # NRS_VERIFY: no VAR_FLAT
            header = cal["PRIMARY"].header
            assert (header["EXP_TYPE"], header["S_PHOTOM"], cal["SCI"].header["BUNIT"]) == (exp_type, "SKIPPED", "DN/s")
            assert header["S_FLAT"] == ("SKIPPED" if exp_type == "NRS_VERIFY" else "COMPLETE")
            opaque = header["FILTER"] == "OPAQUE"
            assert ("S_REGION" in cal["SCI"].header) == (not opaque)
            sip_keys = ("A_", "B_", "AP_", "BP_", "CD")
            sip = sorted(k for k in cal["SCI"].header if k.startswith(sip_keys))
            assert sip == sorted(k for k in mine["SCI"].header if k.startswith(sip_keys))
            assert ("CD1_1" in sip) == (not opaque)  # the SIP fit (its degree may be 0): sky WCSs only
            for key in sip:
                assert mine["SCI"].header[key] == pytest.approx(cal["SCI"].header[key], rel=1e-6, abs=1e-15), key
        assert_arrays_match(ours, theirs, [name for name in ARRAYS if name in extensions])
        assert_keywords_match(ours, theirs, KEYWORDS)
        with datamodels.open(ours) as a, datamodels.open(theirs) as b:
            assert list(a.meta.wcs.available_frames) == list(b.meta.wcs.available_frames)
            if opaque:  # pixels -> MSA plane (m) and the wavelength in microns
                y, x = np.mgrid[0 : a.data.shape[-2] : 5, 0 : a.data.shape[-1] : 5]
                np.testing.assert_allclose(a.meta.wcs(x, y), b.meta.wcs(x, y), rtol=1e-12, atol=1e-15)
            else:
                assert_wcs_match(a.meta.wcs, b.meta.wcs, a.data.shape[-2:])
