"""How well a pipeline run recovered the simulator's truth: pointing errors, catalog completeness, fluxes.

:func:`gpucal.sim.simulate` writes ``truth_sources.ecsv`` (each source's true sky position, type, flux in Jy,
AB magnitude, and its true 0-based pixel position ``x_<root>``, ``y_<root>`` in each science exposure) and
``truth_pointings.ecsv`` (the pointing error injected into each exposure's header, ``error_east`` and
``error_north`` in mas, header minus true). This module compares a run's products with them:

* **pointing** (:func:`pointing_recovery`): an exposure's WCS evaluated at the true pixel positions of the
  sources on it, minus their true sky positions, has as median the pointing error that WCS carries. Measured
  with the WCS before tweakreg (the ``_cal``) and after (the ``_crf``), the difference is what tweakreg
  recovered. tweakreg aligns the exposures to each other, not to the sky, so recovered and injected errors are
  compared relative to the first exposure; the offset all exposures still share is reported on its own. Those
  medians judge the shift at the middle of the sources; a wrong rotation shows in full only away from it, so the
  misalignment left after tweakreg is also measured source by source (:func:`misalignment`): where an exposure's
  corrected WCS puts each true source it shares with the first exposure, against where the first exposure's
  puts it, the largest distance being the misalignment anywhere on their overlap.
* **catalog** (:func:`compare_catalog`): the truth sources brighter than an AB magnitude limit and on at least
  one exposure's detector are matched to the catalog's ``sky_centroid``. The catalog's overall offset from the
  truth (the absolute pointing error relative alignment leaves) is measured first and removed, so that the
  matching radius (0.1" by default) judges the detection and centroiding, not the pointing; completeness is the
  fraction with a counterpart within the radius.
* **flux**: catalog flux over true flux for one-to-one matches (each the other's nearest), as median and robust
  scatter (1.4826 MAD), for all of them and per source type. ``aper_total_flux`` is corrected to total with the
  point-source encircled energy, so extended galaxies are expected to come out low.
"""

import dataclasses
import math

import numpy as np

__all__ = [
    "DEFAULT_MAG_LIMIT",
    "DEFAULT_RADIUS_ARCSEC",
    "CatalogComparison",
    "ExposurePointing",
    "FluxRatio",
    "PointingRecovery",
    "compare_catalog",
    "exposure_root",
    "misalignment",
    "pointing_recovery",
    "tangent_offsets",
    "wcs_offset",
]

#: Truth sources brighter than this AB magnitude count for completeness (well above the simulated depth).
DEFAULT_MAG_LIMIT = 24.5
#: A catalog source within this distance of a truth source (after the common offset is removed) is its counterpart.
DEFAULT_RADIUS_ARCSEC = 0.1
#: Matches within this distance measure the catalog's common offset from the truth.
_OFFSET_SEARCH_ARCSEC = 0.5
_MIN_OFFSET_MATCHES = 3
_MAD_TO_SIGMA = 1.4826


def _number(value, digits=4):
    """A JSON-friendly float: None when not finite."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def tangent_offsets(ra, dec, ra0, dec0):
    """Gnomonic offsets ``(east, north)`` in arcsec of ``(ra, dec)`` from ``(ra0, dec0)`` (all in degrees)."""
    ra, dec, ra0, dec0 = (np.radians(np.asarray(v, dtype=float)) for v in (ra, dec, ra0, dec0))
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    east = np.cos(dec) * np.sin(ra - ra0) / cos_c
    north = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    return np.degrees(east) * 3600.0, np.degrees(north) * 3600.0


def exposure_root(name):
    """The exposure root of a product name: ``jw..._nrca1`` from ``jw..._nrca1_rate.fits``, ``_cal``, ``_o001_crf``."""
    stem = str(name).rsplit("/", 1)[-1]
    for suffix in ("_rateints.fits", "_rate.fits", "_calints.fits", "_cal.fits", "_crf.fits", ".fits"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    parts = stem.split("_")
    if len(parts) > 1 and parts[-1].startswith("o") and parts[-1][1:].isdigit():
        stem = "_".join(parts[:-1])  # the association id of a _crf name
    return stem


def _on_detector(truth, root, shape, margin):
    """True for the truth sources at least ``margin`` pixels inside exposure ``root``'s array of ``shape``."""
    x = np.asarray(truth[f"x_{root}"], dtype=float)
    y = np.asarray(truth[f"y_{root}"], dtype=float)
    ny, nx = shape[-2:]
    return (x >= margin) & (x <= nx - 1 - margin) & (y >= margin) & (y <= ny - 1 - margin)


def wcs_offset(wcs, truth, root, shape, *, margin=2.0):
    """Median ``(east, north, n)`` offset in mas of ``wcs`` at the true pixel positions from the true sky positions.

    Parameters
    ----------
    wcs : callable
        ``wcs(x, y) -> (ra, dec)`` in degrees for 0-based pixel positions (a gwcs, or any such function).
    truth : astropy.table.Table
        The simulator's truth sources (``ra``, ``dec``, ``x_<root>``, ``y_<root>``).
    root : str
        The exposure root naming the truth's pixel columns.
    shape : tuple of int
        The exposure's array shape; only sources ``margin`` pixels inside it count.

    Returns
    -------
    (float, float, int)
        East and north offsets in mas (NaN without sources) and the number of sources used.
    """
    inside = _on_detector(truth, root, shape, margin)
    if not inside.any():
        return math.nan, math.nan, 0
    x = np.asarray(truth[f"x_{root}"], dtype=float)[inside]
    y = np.asarray(truth[f"y_{root}"], dtype=float)[inside]
    ra, dec = wcs(x, y)
    east, north = tangent_offsets(
        ra, dec, np.asarray(truth["ra"], float)[inside], np.asarray(truth["dec"], float)[inside]
    )
    return float(np.median(east)) * 1000.0, float(np.median(north)) * 1000.0, int(inside.sum())


def misalignment(wcs, reference_wcs, truth, root, reference_root, shape, reference_shape, *, margin=2.0):
    """Distances (mas) between where ``wcs`` and ``reference_wcs`` put each true source both exposures see.

    Each source is taken at its true pixel position in each exposure, so the distances are those of the two WCSs'
    errors at the same point of the sky: zero everywhere for a perfect relative alignment, growing away from the
    middle of the overlap for a wrong rotation.

    Parameters
    ----------
    wcs, reference_wcs : callable
        ``wcs(x, y) -> (ra, dec)`` in degrees of the exposure and of the reference (first) exposure.
    truth : astropy.table.Table
        The simulator's truth sources.
    root, reference_root : str
        Exposure roots naming the truth's pixel columns.
    shape, reference_shape : tuple of int
        Array shapes; only sources ``margin`` pixels inside both count.

    Returns
    -------
    (float, float, int)
        Median and largest distance in mas (NaN without common sources) and the number of sources used.
    """
    common = _on_detector(truth, root, shape, margin) & _on_detector(truth, reference_root, reference_shape, margin)
    if not common.any():
        return math.nan, math.nan, 0
    here = wcs(np.asarray(truth[f"x_{root}"], dtype=float)[common], np.asarray(truth[f"y_{root}"], dtype=float)[common])
    there = reference_wcs(np.asarray(truth[f"x_{reference_root}"], dtype=float)[common],
                          np.asarray(truth[f"y_{reference_root}"], dtype=float)[common])  # fmt: skip
    distance = np.hypot(*tangent_offsets(*here, *there)) * 1000.0
    return float(np.median(distance)), float(np.max(distance)), int(common.sum())


@dataclasses.dataclass
class ExposurePointing:
    """One exposure's pointing error (mas, east and north): injected, and as its WCS carries it before and after.

    ``field_after`` is ``(median, max)`` of :func:`misalignment` after tweakreg against the first exposure, over
    ``n_common`` shared sources (NaN and 0 without any).
    """

    exposure: str
    injected: tuple
    before: tuple
    after: tuple
    n_sources: int
    aligned: bool = False
    field_after: tuple = (math.nan, math.nan)
    n_common: int = 0

    @property
    def recovered(self):
        """What tweakreg took out: the error before minus the error after."""
        return (self.before[0] - self.after[0], self.before[1] - self.after[1])


@dataclasses.dataclass
class PointingRecovery:
    """Per-exposure pointing errors and their comparison relative to the first exposure.

    Attributes
    ----------
    exposures : list of ExposurePointing
    """

    exposures: list

    def relative(self):
        """Per exposure: injected and recovered errors relative to the first exposure, and their difference (mas)."""
        first = self.exposures[0]
        rows = []
        for item in self.exposures:
            injected = (item.injected[0] - first.injected[0], item.injected[1] - first.injected[1])
            recovered = (item.recovered[0] - first.recovered[0], item.recovered[1] - first.recovered[1])
            misaligned = math.hypot(item.after[0] - first.after[0], item.after[1] - first.after[1])
            if math.isfinite(item.field_after[1]):
                misaligned = max(misaligned, item.field_after[1])
            rows.append({
                "exposure": item.exposure, "aligned": item.aligned, "injected": injected, "recovered": recovered,
                "error": math.hypot(recovered[0] - injected[0], recovered[1] - injected[1]),
                "misalignment_after": misaligned,
            })  # fmt: skip
        return rows

    @property
    def max_error_mas(self):
        """The largest distance between a recovered and an injected relative error (mas)."""
        return max((row["error"] for row in self.relative()), default=math.nan)

    @property
    def max_misalignment_mas(self):
        """The largest misalignment after tweakreg of an exposure with the first (mas), anywhere on their overlap.

        Per exposure, the largest :func:`misalignment` over the sources it shares with the first exposure (or, with
        none shared, the offset of its median pointing error from the first's).
        """
        return max((row["misalignment_after"] for row in self.relative()), default=math.nan)

    @property
    def common_offset_mas(self):
        """The median error ``(east, north)`` left after tweakreg: the set's absolute offset from the sky."""
        after = np.array([item.after for item in self.exposures], dtype=float)
        return (float(np.median(after[:, 0])), float(np.median(after[:, 1])))

    def to_dict(self):
        relative = self.relative()
        return {
            "relative_to": self.exposures[0].exposure,
            "max_error_mas": _number(self.max_error_mas),
            "max_misalignment_after_mas": _number(self.max_misalignment_mas),
            "common_offset_after_mas": [_number(v) for v in self.common_offset_mas],
            "exposures": [
                {
                    "exposure": item.exposure, "aligned": item.aligned, "n_sources": item.n_sources,
                    "injected_mas": [_number(v) for v in item.injected],
                    "before_mas": [_number(v) for v in item.before], "after_mas": [_number(v) for v in item.after],
                    "injected_relative_mas": [_number(v) for v in row["injected"]],
                    "recovered_relative_mas": [_number(v) for v in row["recovered"]],
                    "error_mas": _number(row["error"]),
                    "misalignment_after_mas": {"median": _number(item.field_after[0]),
                                               "max": _number(item.field_after[1]), "n_sources": item.n_common},
                }
                for item, row in zip(self.exposures, relative, strict=True)
            ],
        }  # fmt: skip


def pointing_recovery(truth_sources, truth_pointings, before, after, shapes, *, aligned=None, margin=2.0):
    """Compare the pointing errors tweakreg recovered with those the simulator injected.

    Parameters
    ----------
    truth_sources, truth_pointings : astropy.table.Table
        The simulator's ``truth_sources.ecsv`` and ``truth_pointings.ecsv``.
    before, after : dict of str to callable
        Exposure root -> WCS (``wcs(x, y) -> (ra, dec)``) before and after tweakreg, in exposure order.
    shapes : dict of str to tuple
        Exposure root -> array shape.
    aligned : dict of str to bool, optional
        Exposure root -> whether tweakreg corrected it (recorded as given).

    Returns
    -------
    PointingRecovery

    Raises
    ------
    KeyError
        An exposure the truth tables do not know.
    """
    injected = {}
    for row in truth_pointings:
        injected[exposure_root(row["file"])] = (float(row["error_east"]), float(row["error_north"]))
    items = []
    first = next(iter(before), None)
    for root, wcs_before in before.items():
        if root not in injected:
            raise KeyError(f"{root}: not in the simulator's truth_pointings")
        east0, north0, n = wcs_offset(wcs_before, truth_sources, root, shapes[root], margin=margin)
        east1, north1, _ = wcs_offset(after[root], truth_sources, root, shapes[root], margin=margin)
        median, largest, n_common = misalignment(after[root], after[first], truth_sources, root, first, shapes[root],
                                                 shapes[first], margin=margin)  # fmt: skip
        items.append(ExposurePointing(root, injected[root], (east0, north0), (east1, north1), n,
                                      bool((aligned or {}).get(root, False)), (median, largest), n_common))  # fmt: skip
    return PointingRecovery(items)


@dataclasses.dataclass
class FluxRatio:
    """Catalog flux / true flux of matched sources: count, median and robust scatter (1.4826 MAD)."""

    n: int
    median: float
    scatter: float

    @classmethod
    def of(cls, ratios):
        ratios = np.asarray(ratios, dtype=float)
        ratios = ratios[np.isfinite(ratios)]
        if not len(ratios):
            return cls(0, math.nan, math.nan)
        median = float(np.median(ratios))
        return cls(len(ratios), median, float(_MAD_TO_SIGMA * np.median(np.abs(ratios - median))))

    def to_dict(self):
        return {"n": self.n, "median": _number(self.median), "scatter": _number(self.scatter)}


@dataclasses.dataclass
class CatalogComparison:
    """A source catalog against the truth: completeness above a magnitude limit and flux accuracy.

    Attributes
    ----------
    mag_limit, radius_arcsec : float
        The AB magnitude limit of the truth sources counted, and the matching radius.
    n_truth, n_matched : int
        Truth sources brighter than the limit on at least one detector, and those with a counterpart.
    n_catalog : int
        Sources in the catalog.
    offset_mas : tuple of float
        The catalog's common offset ``(east, north)`` from the truth, removed before matching.
    flux_column : str
    flux : dict of str to FluxRatio
        ``"all"`` and one entry per source type of the truth (``star``, ``galaxy``).
    """

    mag_limit: float
    radius_arcsec: float
    n_truth: int
    n_matched: int
    n_catalog: int
    offset_mas: tuple
    flux_column: str
    flux: dict

    @property
    def completeness(self):
        return self.n_matched / self.n_truth if self.n_truth else math.nan

    def to_dict(self):
        return {
            "mag_limit_ab": self.mag_limit, "radius_arcsec": self.radius_arcsec, "n_truth": self.n_truth,
            "n_matched": self.n_matched, "n_catalog": self.n_catalog, "completeness": _number(self.completeness),
            "offset_removed_mas": [_number(v) for v in self.offset_mas], "flux_column": self.flux_column,
            "flux_ratio": {kind: ratio.to_dict() for kind, ratio in self.flux.items()},
        }  # fmt: skip


def _catalog_sky(catalog):
    """RA and Dec (deg) of a catalog's sources, from ``sky_centroid`` (gpucal's and jwst's) or RA/DEC columns."""
    if "sky_centroid" in catalog.colnames:
        coords = catalog["sky_centroid"]
        return np.asarray(coords.ra.deg, dtype=float), np.asarray(coords.dec.deg, dtype=float)
    names = {name.upper(): name for name in catalog.colnames}
    if "RA" in names and "DEC" in names:
        return np.asarray(catalog[names["RA"]], dtype=float), np.asarray(catalog[names["DEC"]], dtype=float)
    raise ValueError("the catalog has neither a sky_centroid nor RA/DEC columns")


def _flux_jy(column):
    """A flux column (Quantity, Column with a unit, or plain numbers taken as Jy) in Jy; masked entries NaN."""
    import astropy.units as u

    values = np.ma.filled(np.ma.asarray(getattr(column, "value", column), dtype=float), np.nan)
    unit = getattr(column, "unit", None)
    if unit is None or str(unit) in ("", "Jy"):
        return values
    return (values * u.Unit(unit)).to_value(u.Jy)


def compare_catalog(
    truth_sources, catalog, shapes, *, mag_limit=DEFAULT_MAG_LIMIT, radius_arcsec=DEFAULT_RADIUS_ARCSEC,
    flux_column="aper_total_flux", margin=5.0,
):  # fmt: skip
    """Completeness and flux accuracy of ``catalog`` against the simulator's truth.

    Parameters
    ----------
    truth_sources : astropy.table.Table
        The simulator's ``truth_sources.ecsv``.
    catalog : astropy.table.Table
        A source catalog with ``sky_centroid`` (or RA/DEC) and ``flux_column`` (Jy).
    shapes : dict of str to tuple
        Exposure root -> array shape: a truth source counts when it lies ``margin`` pixels inside at least one.
    mag_limit : float
        Only truth sources with ``abmag <= mag_limit`` count for completeness and flux.
    radius_arcsec : float
        Matching radius, after the catalog's common offset is removed.

    Returns
    -------
    CatalogComparison
    """
    from scipy.spatial import cKDTree

    seen = np.zeros(len(truth_sources), bool)
    for root, shape in shapes.items():
        seen |= _on_detector(truth_sources, root, shape, margin)
    truth_ra = np.asarray(truth_sources["ra"], dtype=float)
    truth_dec = np.asarray(truth_sources["dec"], dtype=float)
    bright = seen & (np.asarray(truth_sources["abmag"], dtype=float) <= mag_limit)
    kinds = np.asarray(truth_sources["type"]).astype(str) if "type" in truth_sources.colnames else None
    cat_ra, cat_dec = _catalog_sky(catalog)
    empty = CatalogComparison(mag_limit, radius_arcsec, int(bright.sum()), 0, len(catalog), (0.0, 0.0), flux_column,
                              {"all": FluxRatio.of([])})  # fmt: skip
    if not len(catalog) or not bright.any():
        return empty
    center = (float(np.median(truth_ra[seen])), float(np.median(truth_dec[seen])))
    truth_xy = np.column_stack(tangent_offsets(truth_ra, truth_dec, *center))
    cat_xy = np.column_stack(tangent_offsets(cat_ra, cat_dec, *center))
    good = np.all(np.isfinite(cat_xy), axis=1)
    if not good.any():
        return empty
    index_of_good = np.flatnonzero(good)
    tree = cKDTree(cat_xy[good])

    distance, nearest = tree.query(truth_xy[bright])
    close = distance <= _OFFSET_SEARCH_ARCSEC
    offset = np.zeros(2)
    if close.sum() >= _MIN_OFFSET_MATCHES:
        offset = np.median(cat_xy[good][nearest[close]] - truth_xy[bright][close], axis=0)
    shifted = truth_xy + offset
    distance, nearest = tree.query(shifted[bright])
    matched = distance <= radius_arcsec

    # One-to-one: the catalog source's nearest truth source (of all those seen) must be this one.
    seen_index = np.flatnonzero(seen)
    _, back = cKDTree(shifted[seen]).query(cat_xy[good][nearest])
    mutual = matched & (seen_index[back] == np.flatnonzero(bright))
    flux = _flux_jy(catalog[flux_column])[index_of_good[nearest]]
    ratio = np.where(mutual, flux / np.asarray(truth_sources["flux"], dtype=float)[bright], np.nan)
    ratios = {"all": FluxRatio.of(ratio)}
    if kinds is not None:
        for kind in sorted(set(kinds[bright])):
            ratios[kind] = FluxRatio.of(ratio[kinds[bright] == kind])
    return CatalogComparison(mag_limit, radius_arcsec, int(bright.sum()), int(matched.sum()), len(catalog),
                             (float(offset[0]) * 1000.0, float(offset[1]) * 1000.0), flux_column, ratios)  # fmt: skip
