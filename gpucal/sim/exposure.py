"""One simulated exposure: a scene through the true WCS, flat and detector, with a rate-file header.

:func:`make_exposure` is the building block :func:`gpucal.sim.simulate`
repeats per exposure; test suites call it directly for a single in-memory
exposure (an :class:`~gpucal.io.exposure.Exposure`, written with
:func:`~gpucal.io.exposure.write_exposure`).

Signal chain (DN/s): sources ``flux * dn_per_jy`` drawn with the PSF (see
:mod:`gpucal.sim.scene`), plus the sky ``B / PHOTMJSR`` times the pixel
area, all times the QE pattern; then noise and defects
(:mod:`gpucal.sim.detector`), the dark current of hot and warm pixels
collected with it and subtracted again as stage 1's dark_sub does. Since the
flat reference is QE x area, jwst's flat_field and photom turn the sky back
into ``B`` MJy/sr and a point source into ``flux`` Jy when summed with the
pixel areas (``SCI * PIXAR_SR * AREA * 1e6``).

NIRSpec has no photom: its data stay in DN/s, its flat is the QE alone, and
a point source's flux is the sum of its flat-fielded ``SCI`` divided by the
DN/s per Jy of :mod:`gpucal.sim.reffiles`. Its WCS is the optical model's
(:mod:`gpucal.sim.nirspec_refs`), evaluated at the exposure's GWA tilt
readings (GWA_XTIL, GWA_YTIL), drawn per exposure around the calibration ones.
"""

import dataclasses
import math

import numpy as np

from gpucal.errors import ParameterError
from gpucal.io.exposure import Exposure
from gpucal.sim.detector import expose, static_defects
from gpucal.sim.instruments import choose_subarray, readout_for
from gpucal.sim.meta import ObservationIds, rate_meta
from gpucal.sim.psf import psf_fwhm_arcsec
from gpucal.sim.reffiles import make_reference_data
from gpucal.sim.scene import make_scene, project, render
from gpucal.sim.siaf import siaf_aperture
from gpucal.wcs.imaging import imaging_wcs
from gpucal.wcs.pointing import Pointing

__all__ = [
    "DEFAULT_FIELD",
    "SimulatedExposure",
    "aperture_pointing",
    "exposure_wcs",
    "field_radius",
    "footprint_area",
    "make_exposure",
    "sky_brightness",
]

#: Default field centre (RA, Dec in deg): a high-latitude field in the south.
DEFAULT_FIELD = (53.1625, -27.7914)
_DEFAULT_START_MJD = 60310.0  # 2024-01-01
_VA_SCALE = 1.00005


def sky_brightness(detector, filter_spec):
    """Nominal sky (zodiacal + telescope thermal) brightness in MJy/sr.

    NIRCam ``0.15 + 0.05 lambda``; MIRI ``0.00415 lambda^3.49`` (1.7 MJy/sr
    at F560W, 5 at F770W, 170 at F2100W), lambda in micron.
    """
    wavelength = filter_spec.wavelength
    if detector.instrument == "miri":
        return 0.00415 * wavelength**3.49
    return 0.15 + 0.05 * wavelength


@dataclasses.dataclass
class SimulatedExposure:
    """A simulated exposure and its truth.

    Attributes
    ----------
    rate : gpucal.io.exposure.Exposure
        The 2-D ``_rate`` product (integrations averaged).
    rateints : gpucal.io.exposure.Exposure or None
        The 3-D ``_rateints`` product, when requested (``nints > 1`` or a time series).
    root : str
        File root, e.g. ``jw00001001001_02101_00001_nrca1``.
    true_pointing, header_pointing : gpucal.wcs.pointing.Pointing
        The pointing used to render the scene and the one in the header.
    wcs : gwcs.WCS
        The true WCS (what assign_wcs would build from the true pointing).
    x, y : ndarray
        True 0-based pixel position of every scene source (off-array ones included).
    expected : ndarray of float32
        The noise-free count rate (DN/s) of every pixel: scene and sky
        through the QE, before noise, cosmic rays and saturation (the dark
        current is subtracted in stage 1, so the rate estimates this).
    residual_cr : ndarray of bool
        Pixels holding unflagged cosmic-ray residuals.
    counts : dict
        Numbers of injected artefacts.
    gwa : gpucal.sim.nirspec.GwaReadings or None
        NIRSpec: the GWA tilt readings the WCS and the header use; None for the other instruments.
    """

    rate: Exposure
    rateints: Exposure | None
    root: str
    true_pointing: Pointing
    header_pointing: Pointing
    wcs: object
    x: np.ndarray
    y: np.ndarray
    expected: np.ndarray
    residual_cr: np.ndarray
    counts: dict
    gwa: object = None


def aperture_pointing(detector, subarray, ra, dec, roll, *, va_scale=_VA_SCALE):
    """The pointing that puts the exposure's aperture reference point at (ra, dec) with ROLL_REF ``roll``."""
    aperture = siaf_aperture(detector.instrument, subarray.aperture)
    return Pointing(float(ra), float(dec), float(roll) % 360.0, aperture.v2_ref, aperture.v3_ref, va_scale)


def field_radius(reference, subarray):
    """Distance (arcsec) from the exposure's reference point to its farthest array corner."""
    aperture = siaf_aperture(reference.detector.instrument, subarray.aperture)
    if subarray.name in ("FULL", "GENERIC"):
        ref_x, ref_y = aperture.sci_ref[0] - subarray.xstart + 1, aperture.sci_ref[1] - subarray.ystart + 1
    else:
        ref_x, ref_y = aperture.sci_ref
    corners = [
        (0.5, 0.5),
        (subarray.xsize + 0.5, 0.5),
        (0.5, subarray.ysize + 0.5),
        (subarray.xsize + 0.5, subarray.ysize + 0.5),
    ]
    return max(math.hypot(cx - ref_x, cy - ref_y) for cx, cy in corners) * max(aperture.sci_scale)


def footprint_area(reference, subarray):
    """Sky area (arcsec^2) of the science array at the nominal pixel area."""
    return subarray.xsize * subarray.ysize * reference.pixar_a2


def exposure_wcs(reference, subarray, pointing, gwa=None):
    """The imaging gwcs of an exposure (as jwst's assign_wcs builds it from these references).

    ``gwa`` (NIRSpec only): the exposure's :class:`~gpucal.sim.nirspec.GwaReadings`.

    Raises
    ------
    ParameterError
        ``gwa`` for another instrument than NIRSpec.
    """
    if reference.detector.instrument == "nirspec":
        from gpucal.sim.nirspec_refs import exposure_wcs as nirspec_wcs

        return nirspec_wcs(reference.detector, reference.filter, subarray, pointing, gwa)
    if gwa is not None:
        instrument = reference.detector.instrument_name
        raise ParameterError(f"gwa: GWA tilt readings are NIRSpec keywords, not {instrument} ones")
    placement = None if subarray.is_full else (subarray.xstart, subarray.ystart, subarray.xsize, subarray.ysize)
    return imaging_wcs(
        reference.distortion, pointing, shape=subarray.shape, filter_offset=reference.filter_offset, subarray=placement
    )


def _check_positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{name}: must be an integer >= {minimum}, got {value!r}")


def _int_times(start_mjd, readout, nints):
    """The INT_TIMES table of a ``_rateints`` file as ``(header, bytes)``."""
    from astropy.io import fits

    length = readout.integration_duration / 86400.0
    starts = start_mjd + np.arange(nints) * length
    tdb = 69.184 / 86400.0
    columns = [("integration_number", ">i4"), ("int_start_MJD_UTC", ">f8"), ("int_mid_MJD_UTC", ">f8"),
               ("int_end_MJD_UTC", ">f8"), ("int_start_BJD_TDB", ">f8"), ("int_mid_BJD_TDB", ">f8"),
               ("int_end_BJD_TDB", ">f8")]  # fmt: skip
    values = [np.arange(1, nints + 1), starts, starts + length / 2, starts + length,
              starts + tdb, starts + length / 2 + tdb, starts + length + tdb]  # fmt: skip
    table = np.rec.fromarrays(
        [np.asarray(v).astype(d) for v, (_, d) in zip(values, columns, strict=True)], dtype=columns
    )
    hdu = fits.BinTableHDU(table, name="INT_TIMES")
    hdu.header["EXTVER"] = (1, "extension value")
    return hdu.header, table.tobytes()


def make_exposure(
    *, instrument="nircam", detector=None, filter=None, size=256, seed=1, nints=1, tso=False,
    background=False, pointing=None, header_pointing=None, scene=None, ids=None, start_mjd=_DEFAULT_START_MJD,
    dither=None, total_exposures=1, target=None, reference=None, want_ints=None, rng=None, gwa=None,
):  # fmt: skip
    """Simulate one imaging exposure in memory.

    Parameters
    ----------
    instrument, detector, filter, size, seed, nints, tso
        As for :func:`gpucal.sim.simulate`, but ``size`` defaults to 256 (``None``: full frame).
    background : bool
        Mark it a dedicated background exposure (BKGDTARG=T).
    pointing : gpucal.wcs.pointing.Pointing, optional
        True pointing. Default: the aperture reference point on
        :data:`DEFAULT_FIELD` with a roll drawn from ``seed``.
    header_pointing : gpucal.wcs.pointing.Pointing, optional
        Pointing written to the header (default: the true one).
    scene : gpucal.sim.scene.Scene, optional
        Sources; default: a random scene covering the exposure. Pass an empty
        scene for sky only.
    ids : gpucal.sim.meta.ObservationIds, optional
    start_mjd : float
        EXPSTART (MJD).
    dither, total_exposures, target
        Header information, see :func:`gpucal.sim.meta.rate_meta`.
    reference : gpucal.sim.reffiles.ReferenceData, optional
        Reference data to use (default: :func:`make_reference_data`).
    want_ints : bool, optional
        Also return the ``_rateints`` product (default: when ``nints > 1`` or ``tso``).
    rng : numpy.random.Generator, optional
        Random stream (default: from ``seed``).
    gwa : gpucal.sim.nirspec.GwaReadings, optional
        NIRSpec: the GWA tilt readings (default: drawn from the random stream); an error for the other
        instruments.

    Returns
    -------
    SimulatedExposure

    Raises
    ------
    ParameterError
        Unknown instrument, detector or filter; a bad size, nints or seed;
        a time series with fewer than 2 integrations; ``gwa`` for another instrument than NIRSpec.
    """
    _check_positive_int("nints", nints)
    if tso and nints < 2:
        raise ParameterError(f"nints: a time series (tso=True) needs at least 2 integrations, got {nints}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"seed: must be a non-negative integer, got {seed!r}")
    reference = reference or make_reference_data(instrument, detector, filter)
    det, spec = reference.detector, reference.filter
    size = det.full_shape[0] if size is None else size
    subarray = choose_subarray(det, size)
    readout = readout_for(det, subarray, tso=tso)
    rng = rng if rng is not None else np.random.default_rng(seed)
    if pointing is None:
        pointing = aperture_pointing(det, subarray, *DEFAULT_FIELD, rng.uniform(0.0, 360.0))
    header_pointing = header_pointing or pointing
    ids = ids or ObservationIds()
    target = target or (pointing.ra_ref, pointing.dec_ref)

    if det.instrument == "nirspec":
        from gpucal.sim.nirspec import draw_gwa_readings

        gwa = gwa or draw_gwa_readings(rng)
    wcs = exposure_wcs(reference, subarray, pointing, gwa)
    header_wcs = wcs if header_pointing is pointing else exposure_wcs(reference, subarray, header_pointing, gwa)
    photmjsr = reference.photmjsr(subarray.name)
    dn_per_jy = 1.0 / (photmjsr * 1e6 * reference.pixar_sr)
    rows, cols = subarray.slices
    area = reference.area[rows, cols]
    qe = reference.quantum_efficiency()[rows, cols]
    static_dq, dark = (a[rows, cols] for a in static_defects(det))

    if scene is None:
        half = field_radius(reference, subarray) + 2.0
        scene = make_scene(rng, (pointing.ra_ref, pointing.dec_ref), (half, half), instrument=det.instrument,
                           footprint=footprint_area(reference, subarray))  # fmt: skip
    if len(scene):
        x, y, jacobian = project(wcs, scene.ra, scene.dec)
        sources = render(scene, x, y, jacobian, subarray.shape, dn_per_jy=dn_per_jy,
                         psf_fwhm=psf_fwhm_arcsec(spec.wavelength, det.psf_floor_arcsec))  # fmt: skip
    else:
        x = y = np.zeros(0)
        sources = np.zeros(subarray.shape)
    sky = sky_brightness(det, spec) / photmjsr
    gradient = 1.0 + 0.01 * (np.arange(subarray.xsize) / det.full_shape[1] - 0.5)[None, :]
    expected = (sources + sky * gradient * area) * qe

    noise = expose(expected, detector=det, readout=readout, nints=nints, rng=rng, static_dq=static_dq, dark=dark)
    meta_args = dict(
        detector=det, filter_spec=spec, subarray=subarray, readout=readout, nints=nints, ids=ids,
        pointing=header_pointing, start_mjd=start_mjd, target=target, wcs=header_wcs, tso=tso, background=background,
        dither=dither, total_exposures=total_exposures, gwa=gwa,
    )  # fmt: skip
    data, err, var_p, var_r, dq = noise.combined()
    rate = Exposure(
        {"data": data, "dq": dq, "err": err, "var_poisson": var_p, "var_rnoise": var_r}, rate_meta(**meta_args),
        model_type="ImageModel",
    )  # fmt: skip
    rateints = None
    if want_ints if want_ints is not None else (nints > 1 or tso):
        rateints = Exposure(
            {"data": noise.data, "dq": noise.dq, "err": noise.err, "var_poisson": noise.var_poisson,
             "var_rnoise": noise.var_rnoise},
            rate_meta(**meta_args), model_type="CubeModel", tables=[_int_times(start_mjd, readout, nints)],
        )  # fmt: skip
    return SimulatedExposure(
        rate, rateints, ids.root(det.name), pointing, header_pointing, wcs, np.asarray(x), np.asarray(y),
        expected.astype(np.float32), noise.residual_cr, noise.counts, gwa,
    )  # fmt: skip
