"""The catalog columns: aperture photometry, magnitudes, concentration, DAOFind statistics, neighbours.

jwst's ``JWSTSourceCatalog`` (``jwst/source_catalog/source_catalog.py``):

* local background: 3-sigma-clipped median in the APCORR sky annulus
  ('center' mask) of the unsubtracted image, error ``sqrt(pi / 2N) * std``;
* exact-overlap circular apertures at the EE radii on the unsubtracted image
  minus ``bkg * area``; ``aper_total = apcorr(EE3) * aper(EE3)``;
* ``AB = -2.5 log10(F / Jy) + 8.9``, ``sigma_AB = 2.5 log10(1 + sigma_F / F)``,
  NaN for negative flux; ``Vega = AB - abvega_offset``;
* concentration indices ``CI_b_a = F_b / F_a`` and ``is_extended =
  CI_EE2_EE1 > ci1 and CI_EE3_EE2 > ci2``;
* DAOFind sharpness and roundness with a zero-sum Gaussian kernel of size
  ``2 int(max(2, 1.5 sigma)) + 1``; nearest neighbour label and distance.
"""

import logging
import warnings

import numpy as np

__all__ = ["CatalogBuilder", "flux_to_abmag"]

log = logging.getLogger("gpucal")

_SEGMENT_DESCRIPTIONS = {
    "label": "Unique source identification label number",
    "xcentroid": "X pixel value of the source centroid (0 indexed)",
    "ycentroid": "Y pixel value of the source centroid (0 indexed)",
    "sky_centroid": "ICRS Sky coordinate of the source centroid",
    "isophotal_flux": "Isophotal flux",
    "isophotal_flux_err": "Isophotal flux error",
    "isophotal_abmag": "Isophotal AB magnitude",
    "isophotal_abmag_err": "Isophotal AB magnitude error",
    "isophotal_vegamag": "Isophotal Vega magnitude",
    "isophotal_vegamag_err": "Isophotal Vega magnitude error",
    "isophotal_area": "Isophotal area",
    "semimajor_sigma": "1-sigma standard deviation along the semimajor axis of the 2D Gaussian function that has "
    "the same second-order central moments as the source",
    "semiminor_sigma": "1-sigma standard deviation along the semiminor axis of the 2D Gaussian function that has "
    "the same second-order central moments as the source",
    "ellipticity": "1 minus the ratio of the 1-sigma lengths of the semimajor and semiminor axes",
    "orientation": "The angle (degrees) between the positive X axis and the major axis (increases counter-clockwise)",
    "sky_orientation": "The position angle (degrees) from North of the major axis",
    "sky_bbox_ll": "Sky coordinate of the lower-left vertex of the minimal bounding box of the source",
    "sky_bbox_ul": "Sky coordinate of the upper-left vertex of the minimal bounding box of the source",
    "sky_bbox_lr": "Sky coordinate of the lower-right vertex of the minimal bounding box of the source",
    "sky_bbox_ur": "Sky coordinate of the upper-right vertex of the minimal bounding box of the source",
}
#: catalog column <- detection table column
_SEGMENT_SOURCE = {
    "label": "id", "isophotal_flux": "flux", "isophotal_area": "area", "semimajor_sigma": "semimajor_axis",
    "semiminor_sigma": "semiminor_axis", "isophotal_flux_err": "segment_flux_err",
}  # fmt: skip
_FORMAT_6F = {"semimajor_sigma", "semiminor_sigma", "ellipticity", "orientation", "sky_orientation", "nn_dist",
              "sharpness", "roundness"}  # fmt: skip


def flux_to_abmag(flux, flux_err):
    """AB magnitude and error of fluxes in Jy (Quantity or array); NaN where the flux is negative."""
    flux = getattr(flux, "value", flux)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        abmag = -2.5 * np.log10(flux) + 8.9
    if flux_err is None or np.all(np.isnan(getattr(flux_err, "value", flux_err))):
        abmag_err = np.zeros_like(abmag) * np.nan
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            abmag_err = 2.5 * np.log10(1.0 + getattr(flux_err, "value", flux_err) / flux)
    negative = flux < 0
    abmag[negative] = np.nan
    abmag_err[negative] = np.nan
    return abmag, abmag_err


def _pixel_scale_angle(skycoord, wcs, offset_arcsec=1.0):
    """WCS rotation angle (deg, counter-clockwise from +x to North) at a sky position."""
    import astropy.units as u

    x0, y0 = wcs.world_to_pixel(skycoord)
    x1, y1 = wcs.world_to_pixel(skycoord.directional_offset_by(0.0, offset_arcsec * u.arcsec))
    return (np.arctan2(y1 - y0, x1 - x0) * u.radian).to(u.deg)


class CatalogBuilder:
    """Build jwst's catalog from the detection table and the (unsubtracted) Jy image.

    Parameters
    ----------
    data, err : Quantity
        SCI and ERR in Jy per pixel (not background-subtracted).
    wcs : gwcs.WCS
    crpix : tuple of float
        ``(CRPIX1, CRPIX2)`` of the mosaic (1-based), where sky_orientation's
        rotation is measured.
    segments : astropy.table.QTable
        From :func:`gpucal.catalog.detection.detect_sources`.
    kernel_fwhm : float
    aperture_params : dict
        From :func:`gpucal.catalog.reference.aperture_params`.
    abvega_offset : float
    ci_star_thresholds : tuple of 2 float
    """

    def __init__(self, data, err, wcs, crpix, segments, kernel_fwhm, aperture_params, abvega_offset,
                 ci_star_thresholds):  # fmt: skip
        from astropy.stats import gaussian_fwhm_to_sigma

        self.data, self.err, self.wcs, self.crpix = data, err, wcs, crpix
        self.segments = segments
        self.kernel_sigma = kernel_fwhm * gaussian_fwhm_to_sigma
        self.aperture_params = aperture_params
        self.abvega_offset = abvega_offset
        self.ci_star_thresholds = tuple(ci_star_thresholds)
        self.aperture_ee = aperture_params["aperture_ee"]
        self.n_sources = len(segments)
        self.columns = {}
        self.descriptions = {}

    # -- segment columns -----------------------------------------------------
    def _segment_columns(self):
        for name in _SEGMENT_DESCRIPTIONS:
            source = _SEGMENT_SOURCE.get(name, name)
            if source in self.segments.colnames:
                self.columns[name] = self.segments[source]
        n = self.n_sources
        xc, yc = self.columns["xcentroid"], self.columns["ycentroid"]
        self.xypos = np.transpose((np.asarray(xc), np.asarray(yc)))
        self.nonfinite = ~np.isfinite(self.xypos).all(axis=1)
        self.xy_finite = np.where(np.isfinite(self.xypos), self.xypos, -1000.0)
        if "sky_centroid" not in self.columns:
            self.columns["sky_centroid"] = self.wcs.pixel_to_world(xc, yc) if self.wcs is not None else \
                np.array([None] * n)  # fmt: skip
        flux = self.columns.get("isophotal_flux", np.nan)
        flux_err = self.columns.get("isophotal_flux_err", np.nan)
        if "isophotal_flux" in self.columns:
            abmag, abmag_err = flux_to_abmag(flux, flux_err if "isophotal_flux_err" in self.columns else None)
            vegamag = abmag - self.abvega_offset
            self.columns.update(isophotal_abmag=abmag, isophotal_abmag_err=abmag_err, isophotal_vegamag=vegamag,
                                isophotal_vegamag_err=abmag_err)  # fmt: skip
        if "orientation" in self.columns and self.wcs is not None:
            import astropy.units as u

            sky = self.wcs.pixel_to_world(self.crpix[0] - 1, self.crpix[1] - 1)
            angle = _pixel_scale_angle(sky, self.wcs)
            self.columns["sky_orientation"] = ((180.0 * u.deg) - angle + self.columns["orientation"]) % (360 * u.deg)
        for name in _SEGMENT_DESCRIPTIONS:
            self.columns.setdefault(name, np.nan)

    # -- apertures -----------------------------------------------------------
    def _aperture_names(self, kind):
        names = []
        for ee in self.aperture_ee:
            names += [f"aper{ee}_{kind}", f"aper{ee}_{kind}_err"]
        return [*names, f"aper_total_{kind}", f"aper_total_{kind}_err"]

    def _aperture_descriptions(self, kind):
        ftype, ftype2 = {"flux": ("Flux", "flux"), "abmag": ("AB magnitude",) * 2,
                         "vegamag": ("Vega magnitude",) * 2}[kind]  # fmt: skip
        out = []
        for ee in self.aperture_ee:
            out.append(f"{ftype} within the {ee}% encircled energy circular aperture")
            out.append(f"{ftype} error within the {ee}% encircled energy circular aperture")
        last = self.aperture_ee[-1]
        for extra in ("", " error"):
            out.append(f"Total aperture-corrected {ftype2}{extra} based on the {last}% encircled energy circular "
                       "aperture; should be used only for unresolved sources.")  # fmt: skip
        return out

    def _local_background(self):
        from astropy.stats import SigmaClip
        from astropy.utils.exceptions import AstropyUserWarning
        from photutils.aperture import CircularAnnulus

        params = self.aperture_params
        annulus = CircularAnnulus(self.xy_finite, params["bkg_aperture_inner_radius"],
                                  params["bkg_aperture_outer_radius"])  # fmt: skip
        clip = SigmaClip(sigma=3.0)
        values = self.data.value
        counts, medians, stds = [], [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", AstropyUserWarning)
            for mask in annulus.to_mask(method="center"):
                kept = clip(mask.get_values(values), masked=False)
                counts.append(kept.size)
                medians.append(np.median(kept))
                stds.append(np.std(kept))
            median_err = np.sqrt(np.pi / (2.0 * np.array(counts))) * np.array(stds)
        unit = self.data.unit
        return np.array(medians) << unit, median_err << unit

    def _aperture_columns(self):
        from photutils.aperture import CircularAperture, aperture_photometry

        bkg, bkg_err = self._local_background()
        self.columns["aper_bkg_flux"], self.columns["aper_bkg_flux_err"] = bkg, bkg_err
        self.descriptions["aper_bkg_flux"] = ("The local background value calculated as the sigma-clipped median "
                                              "value in the background annulus aperture")  # fmt: skip
        self.descriptions["aper_bkg_flux_err"] = "The standard error of the sigma-clipped median background value"
        apertures = [CircularAperture(self.xy_finite, r) for r in self.aperture_params["aperture_radii"]]
        phot = aperture_photometry(self.data, apertures, error=self.err)
        names = {kind: self._aperture_names(kind) for kind in ("flux", "abmag", "vegamag")}
        descriptions = {kind: self._aperture_descriptions(kind) for kind in names}
        for i, aperture in enumerate(apertures):
            phot[f"aperture_sum_{i}"] -= bkg * aperture.area
            flux, flux_err = phot[f"aperture_sum_{i}"], phot[f"aperture_sum_err_{i}"]
            abmag, abmag_err = flux_to_abmag(flux, flux_err)
            values = {"flux": (flux, flux_err), "abmag": (abmag, abmag_err),
                      "vegamag": (abmag - self.abvega_offset, abmag_err)}  # fmt: skip
            for kind, (value, error) in values.items():
                self.columns[names[kind][2 * i]], self.columns[names[kind][2 * i + 1]] = value, error
        last = len(apertures) - 1
        apcorr = self.aperture_params["aperture_corrections"][last]
        total = apcorr * self.columns[names["flux"][2 * last]]
        total_err = apcorr * self.columns[names["flux"][2 * last + 1]]
        abmag, abmag_err = flux_to_abmag(total, total_err)
        self.columns.update(aper_total_flux=total, aper_total_flux_err=total_err, aper_total_abmag=abmag,
                            aper_total_abmag_err=abmag_err, aper_total_vegamag=abmag - self.abvega_offset,
                            aper_total_vegamag_err=abmag_err)  # fmt: skip
        for kind in names:
            self.descriptions.update(zip(names[kind], descriptions[kind], strict=True))
        return [n for kind in ("flux", "abmag", "vegamag") for n in names[kind]]

    # -- concentration, DAOFind statistics, neighbours -----------------------
    def _extras(self, flux_names):
        ee = self.aperture_ee
        pairs = ((0, 1), (1, 2), (0, 2))
        names = [f"CI_{ee[j]}_{ee[i]}" for i, j in pairs]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "divide by zero", RuntimeWarning)
            warnings.filterwarnings("ignore", "invalid value", RuntimeWarning)
            ci = [self.columns[flux_names[2 * j]].value / self.columns[flux_names[2 * i]].value for i, j in pairs]
        for (i, j), name, value in zip(pairs, names, ci, strict=True):
            self.columns[name] = value
            self.descriptions[name] = f"Concentration index calculated as ({flux_names[2 * j]} / {flux_names[2 * i]})"
        self.columns["is_extended"] = (ci[0] > self.ci_star_thresholds[0]) & (ci[1] > self.ci_star_thresholds[1])
        self.columns["sharpness"], self.columns["roundness"] = self._daofind_statistics()
        self.columns["nn_label"], self.columns["nn_dist"] = self._nearest_neighbours()
        self.descriptions.update({
            "is_extended": "Flag indicating whether the source is extended",
            "sharpness": "The DAOFind source sharpness statistic",
            "roundness": "The DAOFind source roundness statistic",
            "nn_label": "The label number of the nearest neighbor",
            "nn_dist": "The distance in pixels to the nearest neighbor",
        })  # fmt: skip
        return [*names, "is_extended", "sharpness", "roundness", "nn_label", "nn_dist"]

    def _daofind_kernel(self):
        from astropy.convolution import Gaussian2DKernel

        radius = max(2.0, 1.5 * self.kernel_sigma)
        size = 2 * int(radius) + 1
        center = (size - 1) // 2
        yy, xx = np.mgrid[0:size, 0:size]
        mask = (np.sqrt((xx - center) ** 2 + (yy - center) ** 2) <= radius).astype(int)
        kernel = Gaussian2DKernel(self.kernel_sigma, x_size=size, y_size=size).array
        kernel /= np.max(kernel)
        kernel *= mask
        npix = mask.sum()
        denom = np.sum(kernel**2) - np.sum(kernel) ** 2 / npix
        return ((kernel - kernel.sum() / npix) / denom) * mask, mask, center

    def _cutouts(self, image, shape):
        from astropy.nddata.utils import NoOverlapError, extract_array

        out = []
        for x, y in self.xy_finite:
            try:
                out.append(extract_array(image, shape, (y, x), fill_value=0.0))
            except NoOverlapError:
                out.append(np.zeros(shape))
        return np.array(out)

    def _daofind_statistics(self):
        from scipy import ndimage

        kernel, mask, c = self._daofind_kernel()
        convolved = ndimage.convolve(self.data.value, kernel, mode="constant", cval=0.0)
        cut = self._cutouts(self.data, kernel.shape)
        cut_conv = self._cutouts(convolved, kernel.shape)
        npix = mask.sum() - 1
        peak = cut[:, c, c]
        mean = (np.sum(cut * mask, axis=(1, 2)) - peak) / npix
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sharpness = (peak - mean) / cut_conv[:, c, c]
        cut_conv = cut_conv.copy()
        cut_conv[:, c, c] = 0.0
        axis = (1, 2)
        sum2 = (-cut_conv[:, 0 : c + 1, c + 1 :].sum(axis=axis) + cut_conv[:, 0:c, 0 : c + 1].sum(axis=axis)
                - cut_conv[:, c:, 0:c].sum(axis=axis) + cut_conv[:, c + 1 :, c:].sum(axis=axis))  # fmt: skip
        sum2[sum2 == 0] = 0.0
        sum4 = np.abs(cut_conv).sum(axis=axis)
        sum4[sum4 == 0] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            roundness = 2.0 * sum2 / sum4
        return sharpness, roundness

    def _nearest_neighbours(self):
        import astropy.units as u
        from scipy.spatial import KDTree

        if self.n_sources == 1:
            return -1, np.array([np.nan]) * u.pixel
        dist, idx = KDTree(self.xy_finite).query(self.xy_finite, k=[2])
        dist, idx = np.transpose(dist)[0], np.transpose(idx)[0]
        label = self.columns["label"][idx]
        label[self.nonfinite] = -1
        dist[self.nonfinite] = np.nan
        return label, dist * u.pixel

    # -- the table -----------------------------------------------------------
    def catalog(self, meta=None):
        """The catalog (QTable) in jwst's column order, with descriptions, formats and meta."""
        from astropy.table import QTable

        self._segment_columns()
        self.descriptions.update(_SEGMENT_DESCRIPTIONS)
        aperture_names = ["aper_bkg_flux", "aper_bkg_flux_err", *self._aperture_columns()]
        extras = self._extras(aperture_names[2:])
        segment_names = list(_SEGMENT_DESCRIPTIONS)
        order = segment_names[:4] + aperture_names + extras + segment_names[4:]
        table = QTable()
        for name in order:
            table[name] = self.columns[name]
            table[name].info.description = self.descriptions[name]
            if name in ("xcentroid", "ycentroid") or "CI_" in name:
                table[name].info.format = ".4f"
            if "flux" in name:
                table[name].info.format = ".6e"
            if "abmag" in name or "vegamag" in name or name in _FORMAT_6F:
                table[name].info.format = ".6f"
        table.meta.update(meta or {})
        return table
