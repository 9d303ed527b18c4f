"""Simulated CRDS reference files: distortion, filteroffset, flat, photom, area, apcorr, abvegaoffset.

For NIRCam, MIRI, NIRISS and FGS imaging (FGS has no filteroffset reference,
as in CRDS); every reference serves all the imaging EXP_TYPEs of its
instrument (P_EXP_TY), as the flight imaging references do. NIRSpec's
imaging modes have neither a distortion nor a photom, area, apcorr or
abvegaoffset reference in CRDS: their references are a flat and the seven
files of the optical model (disperser, collimator, fore, fpa, camera, ote,
wavelengthrange; :mod:`gpucal.sim.nirspec_refs`), and their data stay in DN/s.

:func:`make_reference_data` builds them in memory (:class:`ReferenceData`),
:func:`write_reference_files` writes them in the CRDS formats that jwst 3.0
reads (ASDF for the WCS ones, FITS for the others, each with the header a
CRDS file carries), and :func:`make_reference_files` does both.

Reference files depend only on the instrument, detector and filter, never on
a simulation's seed: like the real ones, they describe the instrument, and
every simulation of a detector sees the same flat and bad pixels.

Photometric model: a source of flux F (Jy) gives
``F * 1e6 * 383.3 * bandwidth * throughput / gain`` DN/s (383.3 photons/s
per microjansky and unit fractional bandwidth over the 25.4 m^2 mirror), so
``PHOTMJSR = 1 / (DN/s per Jy * 1e6 * PIXAR_SR)``. For NIRSpec, with no
photom reference, the same DN/s per Jy (throughput 0.4: telescope, fore
optics, filter, GWA mirror, camera and detector; gain 1 e-/DN) only sets the
count rates the simulator draws.

The flat field is the product of the quantum-efficiency pattern (large-scale
gradients and dimples, 1 % pixel-to-pixel noise) and the pixel-area map
(the distortion's Jacobian over the nominal area): a flat measured on a
uniform sky contains both, and dividing by it turns a uniform sky uniform.
NIRSpec's flat is the QE pattern alone (a detector flat): with neither photom
nor area reference its flat-fielded data are each pixel's count rate, a
uniform sky a little brighter where pixels are larger (0.3 % at the corners),
and a point source sums to its flux times the DN/s per Jy.

The source catalog's references follow the same PSF model: APCORR radii
are where the simulated PSF (three Gaussians plus the 1/12 pixel^2 pixel
response) encloses 10 % ... 90 % of the flux, ``apcorr = 1 / eefraction``;
ABVEGAOFFSET assumes a Rayleigh-Jeans Vega (667 Jy at 2.2 micron,
``F_nu ~ lambda^-2``): ``AB - Vega = 2.5 log10(3631 Jy / F_Vega)``.
"""

import dataclasses
import datetime
import functools
import math
import pathlib

import numpy as np

from gpucal import dqflags
from gpucal.errors import ParameterError
from gpucal.sim.distortion import (
    _base_meta,
    _write_asdf,
    distortion_model,
    filter_offsets,
    write_distortion,
    write_filteroffset,
)
from gpucal.sim.instruments import (
    _FGS_SUBARRAYS,
    _MIRI_SUBARRAYS,
    _NIRCAM_SUBARRAYS,
    _NIRISS_SUBARRAYS,
    _NRM_THROUGHPUT,
    detector_spec,
    filter_spec,
    filters_for,
    instrument_rng,
    resolve_options,
)
from gpucal.sim.nirspec_refs import optics_distortion, optics_file_names, write_optics

__all__ = [
    "ReferenceData",
    "has_filteroffset",
    "make_reference_data",
    "make_reference_files",
    "reference_border",
    "reference_file_names",
    "write_reference_files",
]

_PHOTONS_PER_UJY = 1e-32 * 25.4 / 6.62607015e-34  # photons/s per microjansky per unit fractional bandwidth
_ARCSEC2_PER_SR = 206264.80624709636**2
_DQ = dqflags.PIXEL
_REFERENCE = _DQ["DO_NOT_USE"] | _DQ["REFERENCE_PIXEL"]
_USEAFTER = "2022-01-01T00:00:00"


def _throughput(detector, spec):
    """End-to-end photon-to-electron efficiency (telescope, filter, QE), nominal.

    NIRISS's non-redundant mask (PUPIL=NRM) passes about 15 % of the pupil.
    """
    if detector.instrument == "miri":
        return 0.65
    if detector.instrument == "niriss":
        base = 0.35 if spec.wavelength < 2.5 else 0.45
        return base * _NRM_THROUGHPUT if spec.pupil == "NRM" else base
    if detector.instrument == "fgs":
        return 0.45
    if detector.instrument == "nirspec":
        return 0.40
    if detector.channel == "SHORT":
        return 0.30 if spec.wavelength < 0.8 else 0.45
    return 0.50


def reference_border(detector, shape=None):
    """Boolean mask of reference pixels on the full frame.

    The HgCdTe detectors (NIRCam, NIRISS, FGS): a 4-pixel border; MIRI: 4 columns each side.
    """
    rows, cols = shape or detector.full_shape
    mask = np.zeros((rows, cols), dtype=bool)
    mask[:, :4] = mask[:, -4:] = True
    if detector.instrument != "miri":
        mask[:4, :] = mask[-4:, :] = True
    return mask


@dataclasses.dataclass
class ReferenceData:
    """Simulated reference data of one detector and filter, full frame.

    Attributes
    ----------
    detector : DetectorSpec
    filter : FilterSpec
    distortion : astropy.modeling.Model
        Full-frame 0-based pixel -> V2/V3 arcsec, with inverse.
    offsets : list of dict
        Filter offsets of every filter of the channel (filteroffset rows).
    flat, flat_err : ndarray of float32
    flat_dq : ndarray of uint32
    area : ndarray of float32
        Pixel area relative to the nominal one.
    pixar_sr, pixar_a2 : float
        Nominal pixel area (sr, arcsec^2).
    photom_rows : list of dict
        PHOTOM table rows (NIRCam, NIRISS: filter, pupil; MIRI: filter, subarray; FGS: one row). NIRSpec:
        the simulator's conversion in the same form (filter, pupil N/A), never written (CRDS has no NIRSpec
        imaging photom).
    """

    detector: object
    filter: object
    distortion: object
    offsets: list
    flat: np.ndarray
    flat_err: np.ndarray
    flat_dq: np.ndarray
    area: np.ndarray
    pixar_sr: float
    pixar_a2: float
    photom_rows: list
    _qe: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def filter_offset(self):
        """``(column_offset, row_offset)`` of this filter."""
        for row in self.offsets:
            if row["filter"] == self.filter.filter and row["pupil"] == self.filter.pupil:
                return row["column_offset"], row["row_offset"]
        return 0.0, 0.0

    def photmjsr(self, subarray="FULL"):
        """PHOTMJSR (MJy/sr per DN/s) of this filter, as jwst's photom step selects it (FGS: the only row)."""
        if self.detector.instrument == "fgs":
            return self.photom_rows[0]["photmjsr"]
        for row in self.photom_rows:
            if row["filter"] != self.filter.filter:
                continue
            if "pupil" in row and row["pupil"] == self.filter.pupil:
                return row["photmjsr"]
            if "subarray" in row and row["subarray"] == subarray:
                return row["photmjsr"]
        for row in self.photom_rows:
            if row["filter"] == self.filter.filter and row.get("subarray") == "GENERIC":
                return row["photmjsr"]
        raise ParameterError(f"filter: no photometric calibration for {self.filter.name} ({subarray})")

    def quantum_efficiency(self):
        """Relative QE of every pixel: the flat without the pixel-area factor (1 where the flat is unusable).

        NIRSpec's flat has no pixel-area factor: its QE is the flat.

        Computed once and kept (read-only).
        """
        if self._qe is None:
            unusable = _DQ["DO_NOT_USE"] | _DQ["NO_FLAT_FIELD"]
            good = np.isfinite(self.flat) & (self.flat != 0) & ((self.flat_dq & unusable) == 0)
            area = 1.0 if self.detector.instrument == "nirspec" else self.area  # NIRSpec: the flat is the QE
            with np.errstate(divide="ignore", invalid="ignore"):
                qe = np.where(good, self.flat / area, 1.0).astype(np.float32)
            qe.flags.writeable = False
            self._qe = qe
        return self._qe


def _photom_rows(detector, pixar_sr):
    rows = []
    for spec in filters_for(detector):
        dn_per_jy = 1e6 * _PHOTONS_PER_UJY * spec.bandwidth * _throughput(detector, spec) / detector.gain
        photmjsr = 1.0 / (dn_per_jy * 1e6 * pixar_sr)
        if detector.instrument == "fgs":
            rows.append({"photmjsr": photmjsr, "uncertainty": 0.01 * photmjsr})
            continue
        if detector.instrument in ("nircam", "niriss", "nirspec"):
            rows.append(
                {"filter": spec.filter, "pupil": spec.pupil, "photmjsr": photmjsr, "uncertainty": 0.01 * photmjsr}
            )
            continue
        for subarray in ("FULL", *_MIRI_SUBARRAYS, "GENERIC"):
            # Subarrays calibrate a little differently (reset and brighter-fatter effects).
            factor = (
                1.0 + 0.01 * instrument_rng("photom", spec.filter, subarray).uniform(-1, 1)
                if subarray != "FULL"
                else 1.0
            )
            value = photmjsr * factor
            rows.append({"filter": spec.filter, "subarray": subarray, "photmjsr": value, "uncertainty": 0.01 * value})
    return rows


def _area_map(detector, model, pixar_a2):
    """Pixel area / nominal area from the distortion's Jacobian (coarse grid, spline-interpolated)."""
    from scipy.interpolate import RectBivariateSpline

    rows, cols = detector.full_shape
    gy = np.linspace(0, rows - 1, 33)
    gx = np.linspace(0, cols - 1, 33)
    xx, yy = np.meshgrid(gx, gy)
    h = 0.5
    v2x1, v3x1 = model(xx + h, yy)
    v2x0, v3x0 = model(xx - h, yy)
    v2y1, v3y1 = model(xx, yy + h)
    v2y0, v3y0 = model(xx, yy - h)
    det = ((v2x1 - v2x0) * (v3y1 - v3y0) - (v2y1 - v2y0) * (v3x1 - v3x0)) / (2 * h) ** 2
    spline = RectBivariateSpline(gy, gx, np.abs(det) / pixar_a2, kx=3, ky=3)
    return spline(np.arange(rows), np.arange(cols)).astype(np.float32)


def _qe_pattern(detector, spec):
    """Relative QE: gradients, a vignetted corner, dimples and pixel-to-pixel noise (mean ~1)."""
    rows, cols = detector.full_shape
    rng = instrument_rng("flat", detector.name, spec.filter, spec.pupil)
    y = (np.arange(rows, dtype=np.float32) / rows - 0.5)[:, None]
    x = (np.arange(cols, dtype=np.float32) / cols - 0.5)[None, :]
    large = np.ones((rows, cols), dtype=np.float32)
    for _ in range(3):
        kx, ky = rng.uniform(0.5, 2.0, 2)
        phase = rng.uniform(0, 2 * math.pi)
        large += np.float32(0.01) * np.cos(np.float32(2 * math.pi) * (kx * x + ky * y) + np.float32(phase))
    corner = rng.choice([-0.5, 0.5], 2)
    large -= np.float32(0.04) * np.exp(-((x - corner[0]) ** 2 + (y - corner[1]) ** 2) / np.float32(0.05))
    for _ in range(max(3, rows * cols // 300_000)):
        cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        radius = rng.uniform(3.0, 15.0)
        depth = rng.uniform(0.02, 0.08)
        ys = slice(max(int(cy - 4 * radius), 0), min(int(cy + 4 * radius) + 1, rows))
        xs = slice(max(int(cx - 4 * radius), 0), min(int(cx + 4 * radius) + 1, cols))
        yy = np.arange(ys.start, ys.stop)[:, None] - cy
        xx = np.arange(xs.start, xs.stop)[None, :] - cx
        large[ys, xs] -= np.float32(depth) * np.exp(-(xx**2 + yy**2) / (2 * radius**2)).astype(np.float32)
    small = rng.normal(1.0, 0.01, (rows, cols)).astype(np.float32)
    return large * small


def _flat(detector, spec, area):
    """Flat SCI/ERR/DQ: QE x area, with flagged bad pixels and the reference pixels."""
    rows, cols = detector.full_shape
    flat = _qe_pattern(detector, spec) * area
    err = (np.float32(0.005) * flat).astype(np.float32)
    dq = np.zeros((rows, cols), dtype=np.uint32)
    rng = instrument_rng("flat-bad", detector.name)
    npix = rows * cols
    picks = rng.choice(npix, size=4 * max(4, npix // 50_000), replace=False)
    nan_px, zero_px, noflat_px, bad_px = np.array_split(picks, 4)
    flat.flat[nan_px] = np.nan
    flat.flat[zero_px] = 0.0
    flat.flat[noflat_px] = 1.0
    dq.flat[noflat_px] |= _DQ["NO_FLAT_FIELD"]
    dq.flat[bad_px] |= _DQ["DO_NOT_USE"] | _DQ["UNRELIABLE_FLAT"]
    border = reference_border(detector)
    flat[border] = 1.0
    err[border] = 0.0
    dq[border] |= _REFERENCE | _DQ["NO_FLAT_FIELD"]
    return flat, err, dq


@functools.lru_cache(maxsize=2)
def _reference_data_cached(instrument, detector, filter_name):
    det = detector_spec(instrument, detector)
    spec = filter_spec(det, filter_name)
    aperture = det.full_aperture
    model = optics_distortion(det, spec) if det.instrument == "nirspec" else distortion_model(aperture)
    pixar_a2 = aperture.sci_scale[0] * aperture.sci_scale[1]
    pixar_sr = pixar_a2 / _ARCSEC2_PER_SR
    area = _area_map(det, model, pixar_a2)
    flat, flat_err, flat_dq = _flat(det, spec, np.ones_like(area) if det.instrument == "nirspec" else area)
    for array in (flat, flat_err, flat_dq, area):
        array.flags.writeable = False
    return ReferenceData(
        det, spec, model, filter_offsets(det, filters_for(det)) if has_filteroffset(det) else [], flat, flat_err,
        flat_dq, area, pixar_sr, pixar_a2,
        _photom_rows(det, pixar_sr),
    )  # fmt: skip


def make_reference_data(instrument="nircam", detector=None, filter=None):
    """Build the reference data of a detector and filter in memory (cached; arrays are read-only).

    ``None`` selects the instrument's default detector and filter (NIRCam
    ``nrca1``/``f200w``, MIRI ``mirimage``/``f770w``).

    Raises
    ------
    ParameterError
        Unknown instrument, detector or filter.
    """
    det, spec, _ = resolve_options(instrument, detector, filter)
    return _reference_data_cached(det.instrument, det.name, spec.name)


def reference_file_names(data):
    """CRDS-like file names ``{reftype: name}`` of a :class:`ReferenceData` (FGS has no filteroffset).

    NIRSpec: ``flat`` and the optics references (:func:`gpucal.sim.nirspec_refs.optics_file_names`).
    """
    det, spec = data.detector, data.filter
    stem = f"gpucal_sim_{det.instrument}_{det.name}"
    if det.instrument == "nirspec":
        return {"flat": f"{stem}_{spec.label}_flat.fits", **optics_file_names(spec.filter)}
    names = {
        "distortion": f"{stem}_distortion.asdf",
        "filteroffset": f"{stem}_filteroffset.asdf",
        "flat": f"{stem}_{spec.label}_flat.fits",
        "photom": f"{stem}_photom.fits",
        "area": f"{stem}_area.fits",
        "apcorr": f"{stem}_apcorr.fits",
        "abvegaoffset": f"{stem}_abvegaoffset.asdf",
    }
    if not has_filteroffset(det):
        del names["filteroffset"]
    return names


def has_filteroffset(detector):
    """Whether the instrument has a ``filteroffset`` reference (CRDS has none for FGS, which has no filters,
    nor for NIRSpec, whose WCS has no distortion reference)."""
    return detector.instrument not in ("fgs", "nirspec")


def _served_subarrays(detector):
    """``P_SUBARR`` of a full-frame reference: every subarray the simulator makes (``FULL|GENERIC|SUB160|...|``)."""
    named = {
        "nircam": _NIRCAM_SUBARRAYS, "miri": tuple(_MIRI_SUBARRAYS), "niriss": tuple(_NIRISS_SUBARRAYS),
        "fgs": _FGS_SUBARRAYS, "nirspec": (),
    }[detector.instrument]  # fmt: skip
    return "|".join(("FULL", "GENERIC", *named)) + "|"


def _primary(data, reftype, model_type, description, *, filter_pupil=True):
    from astropy.io import fits

    det, spec = data.detector, data.filter
    rows, cols = det.full_shape
    header = fits.Header()
    cards = [
        (
            "DATE",
            datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
            "Date this file was created (UTC)",
        ),
        ("ORIGIN", "gpucal", "Organization responsible for creating file"),
        ("TELESCOP", "JWST", "Telescope used to acquire the data"),
        ("DATAMODL", model_type, "Type of data model"),
        ("REFTYPE", reftype.upper(), "Reference file type"),
        ("INSTRUME", det.instrument_name, "Instrument used to acquire the data"),
        ("DETECTOR", det.detector, "Name of detector used to acquire the data"),
    ]
    if det.instrument == "nircam":
        cards += [("MODULE", det.module, "NIRCam module: A or B"), ("CHANNEL", det.channel, "Instrument channel")]
    if det.has_filter_wheel:  # FGS has none: no FILTER or PUPIL keywords, as in its science files
        if filter_pupil:
            cards.append(("FILTER", spec.filter, "Name of the filter element used"))
            if det.has_pupil_wheel:
                cards.append(("PUPIL", spec.pupil, "Name of the pupil element used"))
        else:
            cards.append(("FILTER", "N/A", "Name of the filter element used"))
    cards += [
        ("EXP_TYPE", det.exp_type, "Type of data in the exposure"),
        ("P_EXP_TY", det.p_exptype, "Applicable EXP_TYPE"),
        ("SUBARRAY", "FULL", "Subarray used"),
        # A full-frame reference serves every subarray (cut out by the step); MIRI flats select on SUBARRAY.
        ("P_SUBARR", _served_subarrays(det), "Applicable SUBARRAY values"),
        ("SUBSTRT1", 1, "Starting pixel in axis 1 direction"),
        ("SUBSTRT2", 1, "Starting pixel in axis 2 direction"),
        ("SUBSIZE1", cols, "Number of pixels in axis 1 direction"),
        ("SUBSIZE2", rows, "Number of pixels in axis 2 direction"),
        ("USEAFTER", _USEAFTER, "Use after date of the reference file"),
        ("PEDIGREE", "DUMMY", "The pedigree of the reference file"),
        ("AUTHOR", "gpucal simulator", "Author of the reference file"),
        ("DESCRIP", description, "Description of the reference file"),
    ]
    for keyword, value, comment in cards:
        # Long values keep the card within 80 characters by dropping the comment.
        header[keyword] = (value, comment if len(str(value)) + len(comment) < 60 else "")
    header.add_history("Simulated by gpucal.sim; not a calibration of the real instrument.")
    return header


def _image_hdu(array, name):
    from astropy.io import fits

    return fits.ImageHDU(np.ascontiguousarray(array), name=name)


def _dq_def_hdu():
    from astropy.io import fits

    names = ["DO_NOT_USE", "NO_FLAT_FIELD", "UNRELIABLE_FLAT", "REFERENCE_PIXEL"]
    descriptions = ["Bad pixel, do not use", "Flat field cannot be measured", "Flat variance large", "Reference pixel"]
    values = np.array([_DQ[n] for n in names], dtype=np.uint32)
    bits = np.array([int(v).bit_length() - 1 for v in values], dtype=np.int32)
    table = np.rec.fromarrays(
        [bits, values, np.array(names, dtype="S40"), np.array(descriptions, dtype="S80")],
        dtype=[("BIT", ">i4"), ("VALUE", ">u4"), ("NAME", "S40"), ("DESCRIPTION", "S80")],
    )
    return fits.BinTableHDU(table, name="DQ_DEF")


def _write_fits(hdus, path):
    from astropy.io import fits

    from gpucal.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp)
    return path


def _write_flat(data, path):
    from astropy.io import fits

    area_factor = "" if data.detector.instrument == "nirspec" else " x pixel area"  # NIRSpec: QE alone
    description = f"Simulated flat field: QE pattern{area_factor}"
    header = _primary(data, "flat", "FlatModel", description)
    hdus = [
        fits.PrimaryHDU(header=header), _image_hdu(data.flat, "SCI"), _image_hdu(data.flat_err, "ERR"),
        _image_hdu(data.flat_dq, "DQ"), _dq_def_hdu(),
    ]  # fmt: skip
    return _write_fits(hdus, path)


def _write_photom(data, path):
    from astropy.io import fits

    det = data.detector
    model_type = _PHOTOM_MODELS[det.instrument]
    header = _primary(data, "photom", model_type, "Simulated imaging flux conversion", filter_pupil=False)
    header["PIXAR_SR"] = (data.pixar_sr, "Nominal pixel area in steradians")
    header["PIXAR_A2"] = (data.pixar_a2, "Nominal pixel area in arcsec^2")
    rows = data.photom_rows
    columns, dtype = [], []
    if det.instrument != "fgs":  # FGS: one row, no selection columns (FgsImgPhotomModel)
        key, width = ("subarray", 17) if det.instrument == "miri" else ("pupil", 12)
        columns += [np.array([r["filter"] for r in rows], dtype="S12"), np.array([r[key] for r in rows], f"S{width}")]
        dtype += [("filter", "S12"), (key, f"S{width}")]
    columns += [np.array([r[n] for r in rows], dtype=">f4") for n in ("photmjsr", "uncertainty")]
    dtype += [("photmjsr", ">f4"), ("uncertainty", ">f4")]
    table = np.rec.fromarrays(columns, dtype=dtype)
    return _write_fits([fits.PrimaryHDU(header=header), fits.BinTableHDU(table, name="PHOTOM")], path)


_PHOTOM_MODELS = {
    "nircam": "NrcImgPhotomModel", "miri": "MirImgPhotomModel", "niriss": "NisImgPhotomModel",
    "fgs": "FgsImgPhotomModel",
}  # fmt: skip
_APCORR_MODELS = {
    "nircam": "NrcImgApcorrModel", "miri": "MirImgApcorrModel", "niriss": "NisImgApcorrModel",
    "fgs": "FgsImgApcorrModel",
}  # fmt: skip


def _write_area(data, path):
    from astropy.io import fits

    header = _primary(
        data, "area", "PixelAreaModel", "Simulated pixel area map from the distortion", filter_pupil=False
    )
    if data.detector.has_pupil_wheel:
        header["PUPIL"] = ("N/A", "Name of the pupil element used")
    header["PIXAR_SR"] = (data.pixar_sr, "Nominal pixel area in steradians")
    header["PIXAR_A2"] = (data.pixar_a2, "Nominal pixel area in arcsec^2")
    return _write_fits([fits.PrimaryHDU(header=header), _image_hdu(data.area, "SCI")], path)


#: Encircled-energy fractions of the simulated APCORR rows (jwst's aperture_ee must be one of them x 100).
APCORR_EE_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_VEGA_JY_AT_2P2 = 667.0


def _encircled_energy(radius, weights, sigmas):
    """Fraction of a concentric circular Gaussian mixture's flux within ``radius``."""
    return float(np.sum(weights * (1.0 - np.exp(-0.5 * (radius / sigmas) ** 2))))


def _ee_radius(fraction, weights, sigmas):
    """The radius enclosing ``fraction`` of the mixture's flux (bisection, 1e-6 pixel)."""
    lo, hi = 0.0, float(sigmas.max()) * 10.0
    while hi - lo > 1e-6:
        mid = 0.5 * (lo + hi)
        if _encircled_energy(mid, weights, sigmas) < fraction:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def apcorr_rows(detector):
    """APCORR table rows of a detector's channel.

    Every filter; NIRCam and NIRISS rows by filter+pupil, MIRI by filter+subarray, FGS one set without selectors.

    Radii, skyin and skyout are in detector pixels, from the simulated PSF
    (see the module notes); the sky annulus starts at 2.5 times the 90 % radius.
    """
    from gpucal.sim.psf import _PIXEL_VARIANCE, psf_fwhm_arcsec, psf_mixture

    scale = math.sqrt(detector.full_aperture.sci_scale[0] * detector.full_aperture.sci_scale[1])
    rows = []
    for spec in filters_for(detector):
        weights, sigmas_arcsec = psf_mixture(psf_fwhm_arcsec(spec.wavelength, detector.psf_floor_arcsec))
        sigmas = np.sqrt((sigmas_arcsec / scale) ** 2 + _PIXEL_VARIANCE)
        radii = [_ee_radius(f, weights, sigmas) for f in APCORR_EE_FRACTIONS]
        skyin = float(math.ceil(2.5 * radii[-1]))
        skyout = skyin + max(4.0, float(math.ceil(0.6 * skyin)))
        if detector.instrument in ("nircam", "niriss"):
            selectors = [{"filter": spec.filter, "pupil": spec.pupil}]
        elif detector.instrument == "fgs":
            selectors = [{}]
        else:
            selectors = [{"filter": spec.filter, "subarray": name} for name in ("FULL", *_MIRI_SUBARRAYS)]
        for selector in selectors:
            for fraction, radius in zip(APCORR_EE_FRACTIONS, radii, strict=True):
                rows.append({**selector, "eefraction": fraction, "radius": radius, "apcorr": 1.0 / fraction,
                             "skyin": skyin, "skyout": skyout})  # fmt: skip
    return rows


def abvega_rows(detector):
    """ABVEGAOFFSET rows of a detector's channel (NIRCam, NIRISS: filter+pupil, MIRI: filter, FGS: detector)."""
    rows = []
    for spec in filters_for(detector):
        vega_jy = _VEGA_JY_AT_2P2 * (2.2 / spec.wavelength) ** 2
        if detector.instrument == "fgs":
            rows.append({"detector": detector.detector, "abvega_offset": 2.5 * math.log10(3631.0 / vega_jy)})
            continue
        row = {"filter": spec.filter}
        if detector.has_pupil_wheel:
            row["pupil"] = spec.pupil
        row["abvega_offset"] = 2.5 * math.log10(3631.0 / vega_jy)
        rows.append(row)
    return rows


def _write_apcorr(data, path):
    from astropy.io import fits

    det = data.detector
    header = _primary(data, "apcorr", _APCORR_MODELS[det.instrument],
                      "Simulated aperture corrections from the PSF model", filter_pupil=False)  # fmt: skip
    header["DETECTOR"] = ("ANY", "Name of detector used to acquire the data")
    if det.has_pupil_wheel:
        header["PUPIL"] = ("N/A", "Name of the pupil element used")
    rows = apcorr_rows(det)
    numbers = ("eefraction", "radius", "apcorr", "skyin", "skyout")
    columns, dtype = [], []
    if det.instrument != "fgs":
        key, width = ("subarray", 17) if det.instrument == "miri" else ("pupil", 15)
        columns += [np.array([r["filter"] for r in rows], dtype="S12"), np.array([r[key] for r in rows], f"S{width}")]
        dtype += [("filter", "S12"), (key, f"S{width}")]
    columns += [np.array([r[n] for r in rows], dtype=">f4") for n in numbers]
    dtype += [(n, ">f4") for n in numbers]
    table = np.rec.fromarrays(columns, dtype=dtype)
    return _write_fits([fits.PrimaryHDU(header=header), fits.BinTableHDU(table, name="APCORR")], path)


def _write_abvegaoffset(data, path):
    from astropy.table import Table

    det = data.detector
    title = f"{det.instrument_name} AB to Vega magnitude offsets (simulated)"
    meta = _base_meta(det, "abvegaoffset", "ABVegaOffsetModel", title,
                      "AB - Vega offsets for a Rayleigh-Jeans Vega, gpucal simulator")  # fmt: skip
    meta["instrument"]["detector"] = "ANY"
    meta["instrument"]["filter"] = "N/A"
    if det.has_pupil_wheel:
        meta["instrument"]["pupil"] = "N/A"
    rows = abvega_rows(det)
    names = list(rows[0])
    table = Table([[r[n] for r in rows] for n in names], names=names)
    return _write_asdf({"meta": meta, "abvega_offset": table}, path)


def write_reference_files(data, folder):
    """Write the reference files of a :class:`ReferenceData` into ``folder``.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"distortion", "filteroffset", "flat", "photom", "area", "apcorr", "abvegaoffset"}`` -> path
        (no ``filteroffset`` for FGS, which has none). NIRSpec: ``{"flat", "disperser", "collimator",
        "fore", "fpa", "camera", "ote", "wavelengthrange"}``.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = reference_file_names(data)
    det = data.detector
    paths = {reftype: folder / name for reftype, name in names.items()}
    if det.instrument == "nirspec":
        _write_flat(data, paths["flat"])
        optics = write_optics(folder, data.filter.filter)
        return {"flat": paths["flat"], **optics}
    subarrays = _served_subarrays(det).rstrip("|").split("|")
    write_distortion(paths["distortion"], det, det.full_aperture, subarrays=subarrays)
    if "filteroffset" in paths:
        write_filteroffset(paths["filteroffset"], det, data.offsets)
    _write_flat(data, paths["flat"])
    _write_photom(data, paths["photom"])
    _write_area(data, paths["area"])
    _write_apcorr(data, paths["apcorr"])
    _write_abvegaoffset(data, paths["abvegaoffset"])
    return paths


def make_reference_files(outdir, *, instrument="nircam", detector=None, filter=None):
    """Simulate and write the reference files jwst's Image2Pipeline needs for one detector and filter.

    Parameters
    ----------
    outdir : str or os.PathLike
        Folder to write into (created if needed).
    instrument, detector, filter : str
        As for :func:`gpucal.sim.simulate` (``None``: the instrument's default).

    Returns
    -------
    dict of str to pathlib.Path
        Paths by reftype: ``distortion``, ``filteroffset``, ``flat``, ``photom``, ``area``, ``apcorr``,
        ``abvegaoffset`` (NIRSpec: see :func:`write_reference_files`).

    Raises
    ------
    ParameterError
        Unknown instrument, detector or filter.
    """
    return write_reference_files(make_reference_data(instrument, detector, filter), outdir)
