"""Sky statistics of masked pixels, as stcal's ``SkyStats`` (``stsci.imagestats.ImageStats``) computes them.

The passes over pixels are the registered kernels ``sky_moments``,
``sky_sumdiff`` and ``sky_histogram`` (on the array's device); the scalar rules
between them are reproduced here with imagestats' number types, quirks
included, so that the same pixels give the same sky:

* limits: ``lower``/``upper`` default to the extrema of the good pixels; a
  ``lower`` above the maximum, an ``upper`` below the minimum or ``lower >
  upper`` make the statistic undefined;
* ``nclip + 1`` passes of ``computeMean`` over ``[clipmin, clipmax]`` (float32
  limits): double sums, ``mean`` rounded to float32, the extrema replaced by
  the clip limit when the *first* good pixel lies below (above) it, and
  ``std = float32(sqrt(sum(float32(v - mean)**2) / (n - 1)))``; after each pass
  but the last, ``clipmin = max(lower, mean - lsigma*std)`` and ``clipmax =
  min(upper, mean + usigma*std)``;
* ``median``: ``np.median`` of the pixels inside the last limits (all good
  pixels when ``nclip == 0``), a float32;
* ``mode``/``midpt``: a histogram from ``min`` with ``nbins = int((max - min) /
  hw) + 1`` bins of width ``dz = (max - min) / (nbins - 1)`` (one bin of width
  ``max - min`` when ``hw = binwidth * std`` is tiny, the range is tiny or
  ``hw`` exceeds it), while positions use ``hw``: the parabolic peak for
  ``mode``, the interpolated half-count crossing for ``midpt`` (float32
  cumulative fractions); with one bin ``midpt`` is that bin's *count*, as
  imagestats returns it.

A statistic that cannot be computed (no pixels, limits outside the data)
raises :class:`SkyStatsUndefined`; stcal turns the same condition into "no sky".
"""

import dataclasses
import math

import numpy as np

from gpucal.errors import ParameterError

__all__ = ["SKYSTATS", "SkyStats", "SkyStatsUndefined"]

#: The statistics ``skystat`` may name.
SKYSTATS = ("mode", "median", "midpt", "mean")

_MIN_FLOAT = 10.0 * float(np.finfo(np.float32).eps)


class SkyStatsUndefined(ValueError):
    """The statistic cannot be computed for these pixels (stcal reports no sky)."""


@dataclasses.dataclass(frozen=True)
class _Pass:
    npix: int
    mean: float
    std: float
    vmin: float
    vmax: float
    clipmin: object
    clipmax: object


@dataclasses.dataclass(frozen=True)
class SkyStats:
    """Settings of the sky statistic (jwst's skymatch parameters of the same meaning).

    Parameters
    ----------
    skystat : {'mode', 'median', 'midpt', 'mean'}
    lower, upper : float or None
        Limits of usable pixel values (None: the data's extrema).
    nclip : int
        Number of clipping iterations (>= 0).
    lsigma, usigma : float
        Lower and upper clipping limits in units of the standard deviation (> 0).
    binwidth : float
        Histogram bin width in units of the standard deviation (> 0).
    """

    skystat: str = "mode"
    lower: float | None = None
    upper: float | None = None
    nclip: int = 5
    lsigma: float = 4.0
    usigma: float = 4.0
    binwidth: float = 0.1

    def __post_init__(self):
        if self.skystat not in SKYSTATS:
            raise ParameterError(f"skystat: {self.skystat!r} is not one of {', '.join(SKYSTATS)}")
        if isinstance(self.nclip, bool) or not isinstance(self.nclip, (int, np.integer)) or self.nclip < 0:
            raise ParameterError(f"nclip: must be a non-negative integer, got {self.nclip!r}")
        for name in ("lsigma", "usigma", "binwidth"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.floating)) or not value > 0:
                raise ParameterError(f"{name}: must be a positive number, got {value!r}")
        for name in ("lower", "upper"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float, np.floating)) or math.isnan(value)):
                raise ParameterError(f"{name}: must be a number or None, got {value!r}")

    # ------------------------------------------------------------------ public
    def calc_sky(self, data, mask, device):
        """Sky value and number of pixels of ``data[mask]``.

        Parameters
        ----------
        data : array (host numpy or the device's array type)
            Pixel values; converted to float32 as imagestats does.
        mask : array of bool, same shape
            True for usable pixels. Must exclude non-finite values (the driver's
            masks always do).
        device : gpucal.engine.Device
            Where ``data`` and ``mask`` live; selects the kernel forms.

        Returns
        -------
        sky : float or numpy.float32
            The statistic, with the number type stcal's value has (``median``
            is a numpy float32, as ``np.median`` of float32 pixels).
        npix : int
            Pixels used by the last clipping pass.

        Raises
        ------
        SkyStatsUndefined
            When no pixel is usable or the limits exclude all data.
        """
        from gpucal.kernels import kernel_for

        xp = device.xp
        data = xp.ascontiguousarray(xp.asarray(data, dtype=xp.float32))
        mask = xp.ascontiguousarray(xp.asarray(mask, dtype=bool))
        if mask.shape != data.shape:
            raise ValueError(f"SkyStats.calc_sky: mask shape {mask.shape} differs from data shape {data.shape}")
        moments = kernel_for("sky_moments", device)
        sumdiff = kernel_for("sky_sumdiff", device)
        flat_mask = mask.reshape(-1)
        if not bool(flat_mask.any()):
            raise SkyStatsUndefined("Not enough data points to compute statistics.")
        first = np.float32(_host(data.reshape(-1)[int(xp.argmax(flat_mask))]))

        full = _host(moments(data, mask, np.float32(-np.inf), np.float32(np.inf)))
        gmin, gmax = np.float32(full[2]), np.float32(full[3])
        lower, upper = self.lower, self.upper
        if lower is None:
            lower = gmin
        elif lower > gmax:
            raise SkyStatsUndefined("Lower data cutoff is larger than maximum pixel value.")
        elif upper is not None and lower > upper:
            raise SkyStatsUndefined("Lower data cutoff must be smaller than upper cutoff limit.")
        if upper is None:
            upper = gmax
        elif upper < gmin:
            raise SkyStatsUndefined("Upper data cutoff is smaller than minimum pixel value.")

        clipmin, clipmax = lower, upper
        for it in range(self.nclip + 1):
            lo32, hi32 = np.float32(clipmin), np.float32(clipmax)
            if it == 0 and self.lower is None and self.upper is None:
                stats = full  # the first pass covers every good pixel: the same reduction
            else:
                stats = _host(moments(data, mask, lo32, hi32))
            npix = int(stats[0])
            if npix <= 0:
                raise SkyStatsUndefined("Not enough data points to compute statistics.")
            mean = float(np.float32(stats[1] / npix))
            # computeMean starts its running extrema from the first pixel clipped to the limits
            vmin = float(lo32 if first < lo32 else np.float32(stats[2]))
            vmax = float(hi32 if first > hi32 else np.float32(stats[3]))
            ssq = float(_host(sumdiff(data, mask, np.float32(vmin), np.float32(vmax), np.float32(mean)))[0])
            with np.errstate(all="ignore"):
                std = float(np.float32(np.sqrt(np.float64(ssq) / np.float64(npix - 1))))
            last = _Pass(npix, mean, std, vmin, vmax, clipmin, clipmax)
            if it < self.nclip:
                # Python's max/min with imagestats' argument order (a NaN std keeps the limits)
                clipmin = max(lower, mean - self.lsigma * std)
                clipmax = min(upper, mean + self.usigma * std)

        if self.skystat == "mean":
            return last.mean, last.npix
        if self.skystat == "median":
            return self._median(data, mask, last, xp), last.npix
        return self._from_histogram(data, mask, last, device), last.npix

    def __call__(self, data, mask, device):
        """Same as :meth:`calc_sky`."""
        return self.calc_sky(data, mask, device)

    # ----------------------------------------------------------------- helpers
    def _median(self, data, mask, last, xp):
        values = data[mask]
        if self.nclip > 0:
            lo32, hi32 = np.float32(last.clipmin), np.float32(last.clipmax)
            values = values[(values <= hi32) & (values >= lo32)]
        if values.size == 0:
            return np.float32(np.nan)
        return np.float32(_host(xp.median(values)))

    def _from_histogram(self, data, mask, last, device):
        from gpucal.kernels import kernel_for
        from gpucal.kernels.sky_stats import histogram_setup

        hw = self.binwidth * last.std
        vmin, vmax = last.vmin, last.vmax
        drange = vmax - vmin
        if hw < _MIN_FLOAT or abs(drange) < _MIN_FLOAT or hw > drange:
            nbins, dz = 1, drange
        elif not math.isfinite((vmax - vmin) / hw):
            # int() of it fails in imagestats too, which stcal reports as no sky
            raise SkyStatsUndefined(f"histogram bin width {hw!r} cannot bin the range [{vmin}, {vmax}]")
        else:
            nbins = int((vmax - vmin) / hw) + 1
            dz = float(vmax - vmin) / float(nbins - 1)
        lo, hi, inv_width, include_hi = histogram_setup(nbins, dz, vmin)
        bins = _host(kernel_for("sky_histogram", device)(data, mask, lo, hi, inv_width, nbins, include_hi))
        if self.skystat == "mode":
            return _mode(bins, nbins, vmin, hw)
        return _midpt(bins, vmin, hw)


def _host(value):
    return value.get() if type(value).__module__.startswith("cupy") else np.asarray(value)


def _mode(bins, nbins, vmin, hw):
    """Parabolic histogram peak with imagestats' edge rules (positions in units of ``hw``)."""
    if nbins == 1:
        return vmin + 0.5 * hw
    if nbins == 2:
        if bins[0] > bins[1]:
            return vmin + 0.5 * hw
        if bins[0] < bins[1]:
            return vmin + 1.5 * hw
        return vmin + hw
    peak = int(np.argmax(bins))  # first maximum
    if peak == 0:
        return vmin + 0.5 * hw
    if peak == nbins - 1:
        return vmin + (nbins - 0.5) * hw
    rise = int(bins[peak]) - int(bins[peak - 1])
    fall = int(bins[peak]) - int(bins[peak + 1])
    denom = rise + fall
    if denom == 0:
        return vmin + (peak + 0.5) * hw
    offset = peak + 1 + 0.5 * (rise - fall) / float(denom)
    return vmin + ((offset - 0.5) * hw)


def _midpt(bins, vmin, hw):
    """Half-count crossing of the cumulative histogram (float32 fractions, as imagestats)."""
    if bins.size <= 1:
        return bins[0]  # imagestats returns the single bin's count
    cum = np.cumsum(bins).astype(np.float32)
    cum = (cum / cum[-1]).astype(np.float32)
    lo = int(np.nonzero(cum >= np.float32(0.5))[0][0])
    h1 = float(vmin + lo * hw)
    hdiff = cum[0] if lo == 0 else np.float32(cum[lo] - cum[lo - 1])
    if hdiff == 0:
        return np.float64(h1)
    if lo == 0:
        step = np.float32(np.float32(np.float32(0.5) / hdiff) * np.float32(hw))
    else:
        step = np.float32(np.float32(np.float32(np.float32(0.5) - cum[lo - 1]) / hdiff) * np.float32(hw))
    return np.float64(h1 + float(step))
