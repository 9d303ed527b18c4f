"""A quick-look PNG of a resampled mosaic (``_i2d``, gpucal's or jwst's) with its catalog's sources marked.

Only the SCI extension is read, with astropy.io.fits, so any ``_i2d`` works: nothing gpucal-specific is needed.
The image is shown with an asinh stretch between a floor just below the sky (median - 2 robust sigma of the
finite pixels) and the 99.8th percentile, which keeps faint sources and bright cores visible at once; pixels
with no data (NaN) are drawn in a dark blue. Sources come from a catalog's ``xcentroid``/``ycentroid`` columns
(``_cat.ecsv``, 0-based pixels of the mosaic, as jwst writes them) and are circled.

Drawing needs matplotlib, an optional dependency (the ``plot`` extra). Without it :func:`render` raises
:class:`PlotUnavailableError`, which says how to install it; reading and stretching do not need it.
"""

import dataclasses
import math
import pathlib

import numpy as np

from gpucal.errors import GpucalError, InputFileError
from gpucal.io.atomic import atomic_path

__all__ = [
    "INSTALL_HINT",
    "PlotUnavailableError",
    "QuickLook",
    "asinh_stretch",
    "default_catalog",
    "quicklook",
    "read_positions",
    "read_science",
    "render",
    "stretch_limits",
]

INSTALL_HINT = "pip install gpucal[plot]"
_MAX_SAMPLE = 1_000_000
_NO_DATA_COLOUR = "#1b2a44"
_MARKER_COLOUR = "#ff9f1c"


class PlotUnavailableError(GpucalError):
    """matplotlib, which draws the PNG, is not installed (exit code 1)."""


@dataclasses.dataclass
class Science:
    """The SCI image of a mosaic and what the plot's title shows."""

    data: np.ndarray
    name: str
    unit: str
    filter: str


@dataclasses.dataclass
class QuickLook:
    """A PNG written: its path, the catalog used (or None) and how many sources it marks."""

    path: pathlib.Path
    catalog: pathlib.Path | None
    n_sources: int


def read_science(path):
    """The SCI image of an ``_i2d`` (or any product with a 2-D SCI extension).

    Raises
    ------
    InputFileError
        Missing or unreadable file, no SCI extension, SCI not a 2-D image, or no finite pixel.
    """
    from astropy.io import fits

    path = pathlib.Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        with fits.open(path, memmap=False) as hdul:
            names = [hdu.name for hdu in hdul]
            if "SCI" not in names:
                raise InputFileError(f"{path}: no SCI extension (extensions: {', '.join(names)}); not an _i2d mosaic")
            sci = hdul["SCI"]
            shape = () if sci.data is None else sci.data.shape
            if len(shape) != 2:
                raise InputFileError(f"{path}: SCI is not a 2-D image (shape {shape})")
            data = np.asarray(sci.data, dtype=np.float32)
            unit = str(sci.header.get("BUNIT", ""))
            filt = str(hdul[0].header.get("FILTER", ""))
            pupil = str(hdul[0].header.get("PUPIL", ""))
    except InputFileError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise InputFileError(f"{path}: not a readable FITS file ({exc})") from exc
    if not np.isfinite(data).any():
        raise InputFileError(f"{path}: SCI has no finite pixel to show")
    label = "/".join(p for p in (pupil, filt) if p and p.upper() not in ("CLEAR", "N/A", "NONE"))
    return Science(data, path.name, unit, label)


def read_positions(path):
    """``(x, y)`` pixel positions of a source catalog's sources (``xcentroid``/``ycentroid``; finite ones only).

    Raises
    ------
    InputFileError
        Missing or unreadable catalog, or no centroid columns.
    """
    from astropy.table import Table

    path = pathlib.Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such catalog file")
    try:
        table = Table.read(path, format="ascii.ecsv") if path.suffix == ".ecsv" else Table.read(path)
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise InputFileError(f"{path}: cannot read the catalog ({exc})") from exc
    for xname, yname in (("xcentroid", "ycentroid"), ("x", "y")):
        if xname in table.colnames and yname in table.colnames:
            x = np.asarray(getattr(table[xname], "value", table[xname]), dtype=float)
            y = np.asarray(getattr(table[yname], "value", table[yname]), dtype=float)
            keep = np.isfinite(x) & np.isfinite(y)
            return x[keep], y[keep]
    raise InputFileError(f"{path}: no xcentroid/ycentroid columns (not a source catalog)")


def default_catalog(i2d_path):
    """The catalog jwst and gpucal write beside an ``X_i2d.fits``: ``X_cat.ecsv``, or None when it is not there."""
    path = pathlib.Path(i2d_path)
    stem = path.name[: -len("_i2d.fits")] if path.name.endswith("_i2d.fits") else path.stem
    candidate = path.with_name(f"{stem}_cat.ecsv")
    return candidate if candidate.is_file() else None


def stretch_limits(data):
    """``(low, high)`` display limits: median - 2 robust sigma of the finite pixels, and their 99.8th percentile."""
    finite = np.asarray(data, dtype=float)[np.isfinite(data)]
    if not len(finite):
        raise ValueError("no finite pixel")
    if len(finite) > _MAX_SAMPLE:
        finite = finite[:: math.ceil(len(finite) / _MAX_SAMPLE)]
    sky = float(np.median(finite))
    sigma = 1.4826 * float(np.median(np.abs(finite - sky)))
    low = sky - 2.0 * sigma
    high = float(np.percentile(finite, 99.8))
    if high <= low:
        high = float(finite.max())
    if high <= low:  # a constant image
        high = low + 1.0
    return low, high


def asinh_stretch(data, low, high, softening=0.1):
    """``asinh(t / a) / asinh(1 / a)`` of ``t = (data - low) / (high - low)`` clipped to [0, 1]; NaN stays NaN.

    ``softening`` (``a``) sets where the stretch turns from linear to logarithmic: small values lift faint
    structure more.
    """
    scaled = (np.asarray(data, dtype=float) - low) / (high - low)
    with np.errstate(invalid="ignore"):
        scaled = np.clip(scaled, 0.0, 1.0)
    return np.arcsinh(scaled / softening) / np.arcsinh(1.0 / softening)


def _matplotlib():
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotUnavailableError(f"matplotlib is not installed; the quick-look PNG needs it: {INSTALL_HINT}") from exc
    return Figure, colormaps


def render(science, out, *, positions=None, subtitle=""):
    """Draw ``science`` (a :class:`Science`) with ``positions`` ``(x, y)`` circled into the PNG ``out`` (atomic).

    Raises
    ------
    PlotUnavailableError
        matplotlib is not installed.
    OutputError
        ``out`` cannot be written.
    """
    figure_class, colormaps = _matplotlib()
    low, high = stretch_limits(science.data)
    image = asinh_stretch(science.data, low, high)
    ny, nx = image.shape
    width = 8.0
    height = min(12.0, max(3.0, width * ny / nx)) + 0.8
    fig = figure_class(figsize=(width, height))
    ax = fig.add_subplot()
    cmap = colormaps["gray"].with_extremes(bad=_NO_DATA_COLOUR)
    ax.imshow(np.ma.masked_invalid(image), origin="lower", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    n_marked = 0
    if positions is not None and len(positions[0]):
        ax.scatter(positions[0], positions[1], s=60, facecolors="none", edgecolors=_MARKER_COLOUR, linewidths=0.8)
        n_marked = len(positions[0])
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    ax.set_xlabel("x (pixel)")
    ax.set_ylabel("y (pixel)")
    title = science.name + (f"  [{science.filter}]" if science.filter else "")
    ax.set_title(f"{title}\n{subtitle}" if subtitle else title, fontsize=9)
    unit = f" {science.unit}" if science.unit else ""
    ax.text(0.01, 0.01, f"asinh stretch {low:.3g} to {high:.3g}{unit}", transform=ax.transAxes, fontsize=7,
            color="white", va="bottom")  # fmt: skip
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    return n_marked


def quicklook(i2d, out=None, *, catalog=None, find_catalog=True):
    """Write the quick-look PNG of ``i2d``; returns a :class:`QuickLook`.

    Parameters
    ----------
    i2d : str or os.PathLike
        The mosaic.
    out : str or os.PathLike, optional
        The PNG (default: beside the mosaic, ``X_i2d.png``).
    catalog : str or os.PathLike, optional
        A source catalog whose sources are circled.
    find_catalog : bool
        Without ``catalog``, use ``X_cat.ecsv`` beside ``X_i2d.fits`` when it exists.
    """
    science = read_science(i2d)
    if catalog is None and find_catalog:
        catalog = default_catalog(i2d)
    positions = read_positions(catalog) if catalog is not None else None
    out = pathlib.Path(out) if out is not None else pathlib.Path(i2d).with_suffix(".png")
    subtitle = "no catalog" if catalog is None else f"{len(positions[0])} sources from {pathlib.Path(catalog).name}"
    n_marked = render(science, out, positions=positions, subtitle=subtitle)
    return QuickLook(out, None if catalog is None else pathlib.Path(catalog), n_marked)
