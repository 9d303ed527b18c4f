"""A simulated imaging observation: dithered science exposures, backgrounds, associations, truth.

:func:`simulate` writes, into one folder, everything the Stage 2 and Stage 3
pipelines (jwst's or gpucal's) need for one detector and filter:

* ``exposures`` dithered ``_rate.fits`` files of one field (observation 1),
  plus ``_rateints.fits`` when ``nints > 1`` or ``tso``;
* ``backgrounds`` dedicated background exposures of an offset, nearly empty
  field (observation 2, BKGDTARG=T);
* the reference files (``references/``, see :mod:`gpucal.sim.reffiles`);
* one image2 association per science exposure (the science member plus all
  backgrounds) and one image3 association over the science ``_cal`` names;
* ``truth_sources.ecsv`` (every source: id, ra, dec, type, flux in Jy, AB
  mag, shape, and its true 0-based pixel position ``x_<root>``, ``y_<root>``
  in each science exposure) and ``truth_pointings.ecsv`` (true and header
  pointing of every exposure, injected errors and artefact counts).

The header pointing of each exposure differs from the true one (used to
render it) by a shift of 0.10-0.15 arcsec in a random direction and a roll
of ~0.005 deg about the aperture reference point, which is what tweakreg is
there to fix (the errors the image3 issue sets tweakreg's fidelity target
on). Dither offsets follow a golden-angle spiral of 1-4 arcsec in the ideal
frame. Everything is drawn from ``seed``: the same seed gives identical
arrays.
"""

import dataclasses
import math
import pathlib

import numpy as np

from gpucal.errors import ParameterError
from gpucal.io.asn import make_image2_asn, make_image3_asn, write_asn
from gpucal.io.atomic import check_writable_dir
from gpucal.io.exposure import write_exposure
from gpucal.sim.distortion import ideal_to_v2v3_model
from gpucal.sim.exposure import DEFAULT_FIELD, aperture_pointing, field_radius, footprint_area, make_exposure
from gpucal.sim.instruments import choose_subarray, readout_for, resolve_options
from gpucal.sim.meta import ObservationIds
from gpucal.sim.reffiles import make_reference_data, write_reference_files
from gpucal.sim.scene import make_scene, sky_offsets
from gpucal.sim.siaf import siaf_aperture
from gpucal.wcs.pointing import Pointing, v23tosky

__all__ = ["SimulationResult", "dither_offsets", "simulate"]

#: Size of the header's pointing error (mas): uniform between these, in a random direction.
_POINTING_SHIFT_MAS = (100.0, 150.0)
_POINTING_ROLL_SIGMA_DEG = 0.005
_BACKGROUND_OFFSET_DEG = 0.25
_OVERHEAD_S = 60.0
_START_MJD = 60310.0


@dataclasses.dataclass
class SimulationResult:
    """Files written by :func:`simulate`, by kind.

    Attributes
    ----------
    outdir : pathlib.Path
    science : list of pathlib.Path
        Science ``_rate`` files, in exposure order.
    science_ints : list of pathlib.Path
        Science ``_rateints`` files (empty unless ``nints > 1`` or ``tso``).
    background : list of pathlib.Path
        Background ``_rate`` files.
    background_ints : list of pathlib.Path
        Background ``_rateints`` files.
    references : dict of str to pathlib.Path
        Reference files by reftype (distortion, filteroffset, flat, photom, area, apcorr, abvegaoffset;
        NIRSpec: flat, disperser, collimator, fore, fpa, camera, ote, wavelengthrange).
    image2_asn : list of pathlib.Path
        One image2 association per science exposure.
    image3_asn : pathlib.Path or None
        The image3 association of the science exposures; None for NIRSpec, whose imaging modes end at
        calwebb_image2 (no photometric calibration, no Stage 3 in jwst's pipeline table).
    truth_catalog : pathlib.Path
        ``truth_sources.ecsv``.
    truth_pointings : pathlib.Path
        ``truth_pointings.ecsv``.
    true_pointings, header_pointings : list of gpucal.wcs.pointing.Pointing
        Per science exposure.
    """

    outdir: pathlib.Path
    science: list
    science_ints: list
    background: list
    background_ints: list
    references: dict
    image2_asn: list
    image3_asn: pathlib.Path | None
    truth_catalog: pathlib.Path
    truth_pointings: pathlib.Path
    true_pointings: list
    header_pointings: list

    def files(self):
        """Every file written."""
        return [
            *self.science, *self.science_ints, *self.background, *self.background_ints, *self.references.values(),
            *self.image2_asn, *([self.image3_asn] if self.image3_asn else []), self.truth_catalog,
            self.truth_pointings,
        ]  # fmt: skip


def dither_offsets(n):
    """``n`` dither offsets ``(x, y)`` in arcsec (ideal frame): the origin, then a golden-angle spiral of 1-4 arcsec."""
    golden = math.radians(137.50776405)
    offsets = [(0.0, 0.0)]
    for k in range(1, n):
        radius = 1.2 + 0.9 * math.sqrt(k)
        offsets.append((radius * math.cos(k * golden), radius * math.sin(k * golden)))
    return offsets[:n]


def _dithered(base, aperture, offset):
    """The pointing after moving the telescope so that the field shifts by ``offset`` (ideal arcsec)."""
    dv2, dv3 = ideal_to_v2v3_model(aperture)(-offset[0], -offset[1])
    ra, dec = v23tosky(base)(base.v2_ref + dv2, base.v3_ref + dv3)
    return Pointing(float(ra) % 360.0, float(dec), base.roll_ref, base.v2_ref, base.v3_ref, base.va_scale)


def _perturbed(rng, pointing):
    """The pointing a header would record: shifted by 0.10-0.15 arcsec, rolled by ~0.005 deg."""
    size = rng.uniform(*_POINTING_SHIFT_MAS) / 1000.0 / 3600.0
    angle = rng.uniform(0.0, 2.0 * math.pi)
    east, north = size * math.sin(angle), size * math.cos(angle)
    dec = pointing.dec_ref + north
    ra = pointing.ra_ref + east / math.cos(math.radians(pointing.dec_ref))
    roll = pointing.roll_ref + rng.normal(0.0, _POINTING_ROLL_SIGMA_DEG)
    return dataclasses.replace(pointing, ra_ref=ra % 360.0, dec_ref=dec, roll_ref=roll % 360.0)


def _validate(exposures, backgrounds, nints, seed):
    for name, value, minimum in (("exposures", exposures, 1), ("backgrounds", backgrounds, 0), ("nints", nints, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ParameterError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"seed: must be a non-negative integer, got {seed!r}")


def _scene_half_size(reference, subarray, offsets):
    """Half widths (arcsec) of a sky box covering every dithered footprint with a margin."""
    reach = field_radius(reference, subarray) + max(math.hypot(*o) for o in offsets) + 3.0
    return (reach, reach)


def _truth_table(scene, sims, meta):
    from astropy.table import Table

    table = Table(meta=meta)
    table["id"] = np.arange(1, len(scene) + 1, dtype=np.int32)
    table["ra"] = scene.ra
    table["dec"] = scene.dec
    table["type"] = scene.kind
    table["flux"] = scene.flux
    table["abmag"] = scene.abmag
    table["sersic_n"] = scene.sersic_n
    table["r_eff"] = scene.r_eff
    table["axis_ratio"] = scene.axis_ratio
    table["position_angle"] = scene.position_angle
    for sim in sims:
        table[f"x_{sim.root}"] = sim.x
        table[f"y_{sim.root}"] = sim.y
    units = {"ra": "deg", "dec": "deg", "flux": "Jy", "abmag": "mag", "r_eff": "arcsec", "position_angle": "deg"}
    for name, unit in units.items():
        table[name].unit = unit
    return table


def _pointing_table(records):
    from astropy.table import Table

    table = Table(rows=records)
    for name in ("ra_ref_true", "dec_ref_true", "roll_ref_true", "ra_ref_header", "dec_ref_header", "roll_ref_header"):
        table[name].unit = "deg"
    for name in ("v2_ref", "v3_ref"):
        table[name].unit = "arcsec"
    for name in ("error_east", "error_north"):
        table[name].unit = "mas"
    table["error_roll"].unit = "arcsec"
    return table


def _pointing_record(kind, path, sim):
    true, header = sim.true_pointing, sim.header_pointing
    east, north = sky_offsets(header.ra_ref, header.dec_ref, true.ra_ref, true.dec_ref)
    roll = (header.roll_ref - true.roll_ref + 180.0) % 360.0 - 180.0
    return {
        "file": path.name, "kind": kind, "ra_ref_true": true.ra_ref, "dec_ref_true": true.dec_ref,
        "roll_ref_true": true.roll_ref, "ra_ref_header": header.ra_ref, "dec_ref_header": header.dec_ref,
        "roll_ref_header": header.roll_ref, "v2_ref": true.v2_ref, "v3_ref": true.v3_ref, "va_scale": true.va_scale,
        "error_east": float(east) * 1000.0, "error_north": float(north) * 1000.0, "error_roll": roll * 3600.0,
        "cosmic_rays_flagged": sim.counts["cosmic_rays_flagged"],
        "cosmic_rays_residual": sim.counts["cosmic_rays_residual"], "saturated": sim.counts["saturated"],
    }  # fmt: skip


def simulate(
    outdir, *, instrument="nircam", detector=None, filter=None, exposures=4, backgrounds=2,
    size=None, seed=1, nints=1, tso=False,
):  # fmt: skip
    """Simulate a dithered imaging observation with backgrounds, references, associations and truth.

    Parameters
    ----------
    outdir : str or os.PathLike
        Output folder (created if needed).
    instrument : {"nircam", "miri", "niriss", "fgs", "nirspec"}
    detector : str, optional
        ``nrca1`` ... ``nrca4``, ``nrcalong`` (or ``nrca5``), ``nrcb1`` ... ``nrcblong``; ``mirimage``;
        ``nis``; ``guider1``, ``guider2``; ``nrs1``, ``nrs2``.
        Default: ``nrca1``, ``mirimage``, ``nis``, ``guider1``, ``nrs1``.
    filter : str, optional
        A filter of the detector's channel (``f200w``, ``f444w``, ``f770w``, NIRSpec ``f110w``, ``f140x``,
        ``clear``...). Default: ``f200w``, ``f770w``, ``f150w``, ``clear`` (FGS), ``f110w`` (NIRSpec).
    exposures : int
        Number of dithered science exposures (>= 1).
    backgrounds : int
        Number of dedicated background exposures (>= 0).
    size : int, optional
        Rows of the science array (default: the full frame, 2048 for NIRCam,
        1024 for MIRI): the full-frame size gives FULL, a real
        subarray size gives that subarray, anything else a centred GENERIC
        subarray (see :func:`gpucal.sim.instruments.choose_subarray`).
    seed : int
        Random seed (>= 0); same seed, same arrays.
    nints : int
        Integrations per exposure; ``> 1`` also writes ``_rateints`` files.
    tso : bool
        Time-series exposures (NIRCam NRC_TSIMAGE, TSOVISIT=T; needs ``nints >= 2``);
        the associations then name the ``_rateints`` / ``_calints`` files.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ParameterError
        An unknown instrument, detector or filter, or a bad size, count or seed.
    OutputError
        If ``outdir`` cannot be created or written.
    """
    _validate(exposures, backgrounds, nints, seed)
    if tso and nints < 2:
        raise ParameterError(f"nints: a time series (tso=True) needs at least 2 integrations, got {nints}")
    det, spec, size = resolve_options(instrument, detector, filter, size)
    reference = make_reference_data(det.instrument, det.name, spec.name)
    subarray = choose_subarray(det, size)
    readout = readout_for(det, subarray, tso=tso)
    outdir = check_writable_dir(pathlib.Path(outdir))
    rng = np.random.default_rng(seed)
    aperture = siaf_aperture(det.instrument, subarray.aperture)

    roll = float(rng.uniform(0.0, 360.0))
    center = DEFAULT_FIELD
    base = aperture_pointing(det, subarray, *center, roll)
    offsets = dither_offsets(exposures)
    half = _scene_half_size(reference, subarray, offsets)
    scene = make_scene(rng, center, half, instrument=det.instrument, footprint=footprint_area(reference, subarray))
    bkg_center = (center[0], center[1] + _BACKGROUND_OFFSET_DEG)
    bkg_base = aperture_pointing(det, subarray, *bkg_center, roll)
    bkg_offsets = dither_offsets(backgrounds)
    bkg_scene = make_scene(rng, bkg_center, _scene_half_size(reference, subarray, bkg_offsets or [(0, 0)]),
                           instrument=det.instrument, n_stars=3, n_galaxies=3, faint=True)  # fmt: skip

    references = write_reference_files(reference, outdir / "references")
    step = nints * readout.integration_duration + _OVERHEAD_S
    start = _START_MJD + (seed % 365)
    total = exposures + backgrounds
    result = SimulationResult(outdir, [], [], [], [], references, [], None, None, None, [], [])
    sims, records = [], []
    plan = [("science", 1, k, base, offsets[k], scene) for k in range(exposures)]
    plan += [("background", 2, k, bkg_base, bkg_offsets[k], bkg_scene) for k in range(backgrounds)]
    for index, (kind, observation, k, anchor, offset, sky_scene) in enumerate(plan):
        true = _dithered(anchor, aperture, offset)
        ids = ObservationIds(program=1, observation=observation, visit=1, visit_group=2, sequence=1, activity=1,
                             exposure=k + 1)  # fmt: skip
        sim = make_exposure(
            reference=reference, size=size, nints=nints, tso=tso, background=(kind == "background"),
            pointing=true, header_pointing=_perturbed(rng, true), scene=sky_scene, ids=ids,
            start_mjd=start + index * step / 86400.0, target=_anchor_target(anchor),
            dither={"position": k + 1, "total": exposures if kind == "science" else backgrounds,
                    "x_offset": offset[0], "y_offset": offset[1]},
            total_exposures=total, rng=rng,
        )  # fmt: skip
        rate_path = write_exposure(sim.rate, outdir / f"{sim.root}_rate.fits")
        ints_path = write_exposure(sim.rateints, outdir / f"{sim.root}_rateints.fits") if sim.rateints else None
        getattr(result, kind).append(rate_path)
        if ints_path is not None:
            getattr(result, f"{kind}_ints").append(ints_path)
        records.append(_pointing_record(kind, rate_path, sim))
        if kind == "science":
            sims.append(sim)
            result.true_pointings.append(sim.true_pointing)
            result.header_pointings.append(sim.header_pointing)

    _write_associations(result, det, spec, tso)
    meta = {
        "instrument": det.instrument_name, "detector": det.detector, "filter": spec.filter, "pupil": spec.pupil,
        "subarray": subarray.name, "seed": seed, "field_ra": center[0], "field_dec": center[1],
        "photmjsr": reference.photmjsr(subarray.name), "pixar_sr": reference.pixar_sr,
        "pixel_convention": "x, y are 0-based pixel coordinates of the science array (pixel centres are integers)",
        "flux_convention": "sum over a source of SCI[MJy/sr] * PIXAR_SR * AREA * 1e6 recovers flux[Jy]",
    }  # fmt: skip
    if det.instrument == "nirspec":  # no photom: the data stay in DN/s
        del meta["photmjsr"]
        meta["dn_per_jy"] = 1.0 / (reference.photmjsr(subarray.name) * 1e6 * reference.pixar_sr)
        meta["flux_convention"] = "sum over a source of SCI[DN/s] / dn_per_jy recovers flux[Jy]"
    result.truth_catalog = outdir / "truth_sources.ecsv"
    _truth_table(scene, sims, meta).write(result.truth_catalog, format="ascii.ecsv", overwrite=True)
    result.truth_pointings = outdir / "truth_pointings.ecsv"
    _pointing_table(records).write(result.truth_pointings, format="ascii.ecsv", overwrite=True)
    return result


def _anchor_target(pointing):
    """The target coordinates (TARG_RA, TARG_DEC) of a field: its undithered reference point."""
    return (pointing.ra_ref, pointing.dec_ref)


def _write_associations(result, detector, spec, tso):
    program = "00001"
    pool = f"jw{program}_gpucal_sim_pool"
    science = result.science_ints if tso else result.science
    backgrounds = result.background_ints if tso else result.background
    for k, path in enumerate(science, start=1):
        asn = make_image2_asn(path.name, backgrounds=[b.name for b in backgrounds], asn_id="o001", program=program,
                              target="t001", pool=pool)  # fmt: skip
        result.image2_asn.append(write_asn(asn, result.outdir / f"jw{program}-o001_image2_{k:05d}_asn.json"))
    if detector.instrument == "nirspec":  # its imaging modes end at image2: no image3 association
        return
    suffix = "_calints.fits" if tso else "_cal.fits"
    cal_names = [path.name.replace("_rateints.fits" if tso else "_rate.fits", suffix) for path in science]
    product = f"jw{program}-o001_t001_{detector.instrument}_{spec.label}"
    asn = make_image3_asn(product, cal_names, asn_id="o001", program=program, target="t001", pool=pool)
    result.image3_asn = write_asn(asn, result.outdir / f"jw{program}-o001_image3_00001_asn.json")
