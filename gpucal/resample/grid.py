"""The resample output grid, built exactly as jwst 3.0's resample step builds it.

The grid of an ``_i2d`` product comes either from the inputs (jwst's
``resampled_wcs_from_models`` -> stcal's ``wcs_from_sregions``) or from a user
file (the ``output_wcs`` step parameter, jwst's ``load_custom_wcs``):

* footprints: each input's S_REGION polygon (pixel-edge corners);
* fiducial (CRVAL): mid-range of the footprint vertices as unit vectors,
  unless ``crval`` is given;
* input pixel scale ``p_in``: the first input's WCS around RA_REF/DEC_REF
  (one pixel step in x and in y, geometric mean), or, when ``pixel_scale`` is
  given, the square root of its mean pixel area;
* orientation: ``ROLL_REF - VPARITY * V3I_YANG`` of the first input (or
  ``rotation``), ``PC = [[p cos t, sin t], [-p sin t, cos t]]``;
* transform ``FITSImagingWCSTransform`` (gwcs) with TAN projection, CDELT =
  ``p_out``; CRPIX puts the lowest footprint vertex at pixel 0 (or is
  ``crpix``); the shape reaches the highest vertex (or is ``output_shape``).

Every step uses the same astropy / gwcs calls in the same order as jwst and
stcal, so the numbers are the same to the last bit. The mean pixel area
(``pixel_scale`` given, or a custom WCS without ``pixel_scale``) is computed
without ``spherical_geometry`` by :mod:`gpucal.resample._grid_area`, and the
output S_REGION without shapely by :mod:`gpucal.resample._grid_overlay`.
"""

import copy
import dataclasses
import logging
import math
import os
import pathlib

import numpy as np

from gpucal.errors import InputFileError, ParameterError
from gpucal.resample._grid_area import mean_pixel_area
from gpucal.resample._grid_build import fiducial_from_vertices, footprint_domain, input_pixel_scale, rotation_matrix
from gpucal.resample._grid_wcsinfo import combine_s_regions, fits_wcsinfo, parse_s_region, projection_code

__all__ = [
    "DEFAULT_MAX_OUTPUT_PIXELS",
    "MAX_PIXELS_ENV",
    "OutputGrid",
    "combined_s_region",
    "grid_from_exposures",
    "grid_from_file",
    "max_output_pixels",
]

log = logging.getLogger("gpucal")

#: Largest output grid (pixels) built unless ``max_pixels`` or the environment says otherwise.
DEFAULT_MAX_OUTPUT_PIXELS = 4_000_000_000
#: Environment variable overriding :data:`DEFAULT_MAX_OUTPUT_PIXELS`.
MAX_PIXELS_ENV = "GPUCAL_MAX_OUTPUT_PIXELS"

_ARCSEC_PER_RADIAN = np.rad2deg(3600.0)


@dataclasses.dataclass(frozen=True, eq=False)
class OutputGrid:
    """The output pixel grid of a resampled image.

    Attributes
    ----------
    wcs : gwcs.WCS
        Output WCS, ``detector`` -> ``world``, with ``bounding_box``,
        ``array_shape`` and ``pixel_shape`` set as jwst sets them.
    shape : tuple of int
        ``(ny, nx)``.
    pixel_scale : float
        Output pixel scale (deg).
    pixel_scale_arcsec : float
        Output pixel scale (arcsec) as jwst carries it (``3600 * pixel_scale``,
        or the value of a custom WCS file); PIXAR_* derive from it.
    pixel_scale_ratio : float or None
        Output over input pixel scale (PXSCLRT and drizzle's kernel ratio).
        None for a custom WCS until :meth:`with_reference_exposure` resolves it.
    source : str or None
        The ``output_wcs`` file the grid came from, if any.
    """

    wcs: object
    shape: tuple
    pixel_scale: float
    pixel_scale_arcsec: float
    pixel_scale_ratio: float | None
    source: str | None = None

    @property
    def pixar_a2(self):
        """Output pixel area (arcsec^2): PIXAR_A2 / ``meta.photometry.pixelarea_arcsecsq``."""
        return self.pixel_scale_arcsec**2

    @property
    def pixar_sr(self):
        """Output pixel area (sr): PIXAR_SR / ``meta.photometry.pixelarea_steradians``."""
        return self.pixar_a2 / _ARCSEC_PER_RADIAN**2

    @property
    def pixel_area(self):
        """Alias of :attr:`pixar_sr` (sr)."""
        return self.pixar_sr

    @property
    def kernel_ratio(self):
        """Drizzle's pixel scale ratio ``r`` (p_out / p_in), the value stcal passes to the kernels.

        Raises
        ------
        ParameterError
            For a custom WCS whose ratio is not resolved yet (see :meth:`with_reference_exposure`).
        """
        if self.pixel_scale_ratio is None:
            raise ParameterError(
                f"pixel_scale_ratio of the output grid from {self.source} is not known yet: "
                "call OutputGrid.with_reference_exposure(first_input) first"
            )
        return self.pixel_scale_ratio

    def with_reference_exposure(self, exposure):
        """This grid with ``pixel_scale_ratio`` resolved from the first input, as stcal does for a custom WCS.

        The input pixel scale is ``sqrt(PIXAR_SR)`` of the exposure
        (``meta.photometry.pixelarea_steradians``), or the square root of its
        WCS's mean pixel area when that is missing. A grid whose ratio is
        already known is returned unchanged.

        Raises
        ------
        InputFileError
            If the exposure has neither a pixel area nor a WCS to compute one.
        """
        if self.pixel_scale_ratio is not None:
            return self
        area = exposure.meta.photometry.pixelarea_steradians
        if area is None or area <= 0:
            area = None if exposure.wcs is None else mean_pixel_area(exposure.wcs, shape=exposure.shape)
        if area is None or area <= 0:
            raise InputFileError(
                f"{_name(exposure, 0)}: no pixel area (PIXAR_SR) and none can be computed from its WCS"
            )
        ratio = self.pixel_scale_arcsec / (3600.0 * np.rad2deg(math.sqrt(area)))
        return dataclasses.replace(self, pixel_scale_ratio=float(ratio))

    def fits_wcsinfo(self, reference_wcsinfo=None):
        """The ``meta.wcsinfo`` of the ``_i2d`` product (jwst's ``update_fits_wcsinfo``).

        Parameters
        ----------
        reference_wcsinfo : dict or Node, optional
            ``meta.wcsinfo`` of the first input, which jwst copies into the
            output before updating it.

        Returns
        -------
        dict
            The reference keys without SIP keys (``cd*``, ``a_*``, ``b_*``,
            ``ap_*``, ``bp_*``) and without V2_REF, V3_REF, RA_REF, DEC_REF,
            ROLL_REF, V3YANGLE, VPARITY; with CRPIX1/2 (1-based), CRVAL1/2,
            CDELT1/2, PC1_1..PC2_2, CTYPE1/2, CUNIT1/2 and RADESYS of the grid.
            ``s_region`` is left as in the reference (see :func:`combined_s_region`).
        """
        return fits_wcsinfo(self.wcs, self.shape, reference_wcsinfo)


def _name(exposure, index):
    return exposure.meta.filename or getattr(exposure, "path", None) or f"exposure {index}"


def max_output_pixels(max_pixels=None):
    """The size limit in pixels: ``max_pixels``, else $GPUCAL_MAX_OUTPUT_PIXELS, else the default."""
    name = "max_pixels"
    if max_pixels is None:
        text = os.environ.get(MAX_PIXELS_ENV)
        if text is None or not text.strip():
            return DEFAULT_MAX_OUTPUT_PIXELS
        name = MAX_PIXELS_ENV
        try:
            max_pixels = float(text)
        except ValueError:
            raise ParameterError(f"{MAX_PIXELS_ENV}={text!r} is not a number of pixels") from None
    if not (
        isinstance(max_pixels, int | float | np.integer | np.floating) and math.isfinite(max_pixels) and max_pixels >= 4
    ):
        raise ParameterError(f"{name} must be a number of pixels >= 4, got {max_pixels!r}")
    return int(max_pixels)


def _check_size(shape, limit, scale_text, span_text, what):
    """Refuse a grid of more than ``limit`` pixels, before anything of that size is built."""
    npix = int(shape[0]) * int(shape[1])
    if npix > limit:
        raise ParameterError(
            f"max_pixels: the output grid {what} would be {int(shape[0])} x {int(shape[1])} (ny x nx) = {npix:,} "
            f"pixels at {scale_text}, more than the limit of {limit:,} pixels (max_pixels or ${MAX_PIXELS_ENV}). "
            f"{span_text}This usually means the inputs' pointings are inconsistent (an exposure "
            "with a wrong RA/Dec, S_REGION or WCS), or pixel_scale / pixel_scale_ratio is much smaller than intended."
        )


# -- parameters ------------------------------------------------------------------


def _positive(value, name):
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ParameterError(f"{name} must be a positive number, got {value!r}")
    return value


def _pair(value, name, *, integer=False, minimum=None):
    """jwst's ``check_list_pars``: None, two Nones (-> None) or two values."""
    if value is None:
        return None
    try:
        values = list(value)
    except TypeError:
        raise ParameterError(f"{name} must be a pair of values, got {value!r}") from None
    if len(values) != 2:
        raise ParameterError(f"{name} must have exactly two elements, got {value!r}")
    missing = sum(v is None for v in values)
    if missing == 2:
        return None
    if missing == 1:
        raise ParameterError(f"both {name} values must be either None or not None, got {value!r}")
    for v in values:
        kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
        if isinstance(v, bool) or not isinstance(v, kinds) or not math.isfinite(v):
            raise ParameterError(f"{name} must be two {'integers' if integer else 'finite numbers'}, got {value!r}")
        if minimum is not None and v < minimum:
            raise ParameterError(f"{name} values must be >= {minimum}, got {value!r}")
    return [int(v) for v in values] if integer else values


# -- grid from the inputs ----------------------------------------------------------


def _footprints(exposures):
    footprints = []
    for index, exposure in enumerate(exposures):
        text = exposure.meta.wcsinfo.s_region
        if not text:
            raise InputFileError(
                f"{_name(exposure, index)}: meta.wcsinfo.s_region (S_REGION) is missing; run assign_wcs first"
            )
        try:
            footprints.extend(parse_s_region(text))
        except ValueError as exc:
            raise InputFileError(f"{_name(exposure, index)}: S_REGION {text!r} cannot be read ({exc})") from None
    return footprints


def _reference_wcsinfo(exposure):
    wcsinfo = exposure.meta.wcsinfo
    values = {}
    for key in ("ra_ref", "dec_ref", "roll_ref", "v3yangle", "vparity"):
        value = getattr(wcsinfo, key)
        if value is None:
            raise InputFileError(f"{_name(exposure, 0)}: meta.wcsinfo.{key} is missing (needed for the output grid)")
        values[key] = value
    if values["vparity"] not in (1, -1):
        raise InputFileError(f"{_name(exposure, 0)}: meta.wcsinfo.vparity must be 1 or -1, got {values['vparity']!r}")
    return values


def grid_from_exposures(
    exposures,
    *,
    pixel_scale_ratio=1.0,
    pixel_scale=None,
    rotation=None,
    crpix=None,
    crval=None,
    output_shape=None,
    max_pixels=None,
):
    """The output grid jwst 3.0 builds for these inputs (``resampled_wcs_from_models``).

    Parameters
    ----------
    exposures : sequence of gpucal.io.exposure.Exposure
        Inputs with ``meta.wcsinfo.s_region``; the first also needs its WCS,
        RA_REF, DEC_REF, ROLL_REF, V3YANGLE, VPARITY (and its SCI shape when
        ``pixel_scale`` is given).
    pixel_scale_ratio : float
        Output over input pixel scale; ignored when ``pixel_scale`` is given.
    pixel_scale : float, optional
        Output pixel scale (arcsec).
    rotation : float, optional
        Position angle of the output y axis, deg east of north (0 = north up).
    crpix : pair of float, optional
        0-based pixel of the fiducial (``(x, y)``).
    crval : pair of float, optional
        RA, Dec of the fiducial (deg).
    output_shape : pair of int, optional
        ``(nx, ny)`` as jwst's step parameter.
    max_pixels : int, optional
        Refuse larger grids (default $GPUCAL_MAX_OUTPUT_PIXELS or 4e9).

    Returns
    -------
    OutputGrid

    Raises
    ------
    ParameterError
        Invalid parameter, a grid with a side below 2 pixels, or one above ``max_pixels``.
    InputFileError
        An input lacks the S_REGION or pointing keywords.
    """
    import gwcs
    from astropy.modeling import models
    from gwcs import FITSImagingWCSTransform

    exposures = list(exposures)
    if not exposures:
        raise ParameterError("exposures: at least one input exposure is needed")
    pixel_scale_ratio = _positive(pixel_scale_ratio, "pixel_scale_ratio")
    if pixel_scale is not None:
        pixel_scale = _positive(pixel_scale, "pixel_scale")
    if rotation is not None and (
        isinstance(rotation, bool)
        or not isinstance(rotation, int | float | np.integer | np.floating)
        or not math.isfinite(rotation)
    ):
        raise ParameterError(f"rotation must be a finite angle in degrees, got {rotation!r}")
    crpix, crval = _pair(crpix, "crpix"), _pair(crval, "crval")
    output_shape = _pair(output_shape, "output_shape", integer=True, minimum=1)
    limit = max_output_pixels(max_pixels)

    footprints = _footprints(exposures)
    reference = exposures[0]
    ref_wcs = reference.wcs
    if ref_wcs is None:
        raise InputFileError(f"{_name(reference, 0)}: the first input has no WCS (meta.wcs); run assign_wcs first")
    if ref_wcs.output_frame.naxes != 2:
        raise InputFileError(
            f"{_name(reference, 0)}: output WCS needs 2 coordinate axes, the input WCS has {ref_wcs.output_frame.naxes}"
        )
    info = _reference_wcsinfo(reference)

    if pixel_scale is None:
        scale = input_pixel_scale(ref_wcs, np.array([info["ra_ref"], info["dec_ref"]])) * pixel_scale_ratio
        ratio = pixel_scale_ratio
    else:
        scale = pixel_scale / 3600.0
        area = None if reference.shape is None else mean_pixel_area(ref_wcs, shape=reference.shape[-2:])
        if area is None or area <= 0:
            raise InputFileError(
                f"{_name(reference, 0)}: cannot compute the mean pixel area of the first input "
                "(needed with pixel_scale)"
            )
        ratio = scale / np.rad2deg(math.sqrt(area))

    fiducial = tuple(crval) if crval is not None else fiducial_from_vertices(np.vstack(footprints))
    v3yangle = np.deg2rad(info["v3yangle"])
    vparity = info["vparity"]
    roll = np.deg2rad(info["roll_ref"]) if rotation is None else np.deg2rad(rotation) + (vparity * v3yangle)
    pc = rotation_matrix(roll, v3yangle, vparity)
    projection = models.Pix2Sky_TAN()
    transform = (
        models.AffineTransformation2D(matrix=pc)
        | models.Scale(scale) & models.Scale(scale)
        | projection
        | models.RotateNative2Celestial(fiducial[0], fiducial[1], 180)
    )
    low, high, offsets = footprint_domain(footprints, transform, fiducial, crpix)
    span = f"The input footprints span {(high[0] - low[0]) * scale:.4g} x {(high[1] - low[1]) * scale:.4g} deg. "
    if output_shape is None:
        shape = tuple(int(v + 0.5) for v in high[::-1])
        bounding_box = tuple((-0.5, n - 0.5) for n in shape[::-1])
    else:
        shape = tuple(output_shape[::-1])
        bounding_box = tuple(
            (max(0, int(lo + 0.5)) - 0.5, min(int(hi + 0.5), n) - 0.5)
            for lo, hi, n in zip(low, high, shape[::-1], strict=True)
        )
    _check_size(
        shape,
        limit,
        f"{3600 * scale:.6g} arcsec/pixel",
        span,
        "from the input footprints" if output_shape is None else "of output_shape",
    )
    if any(n < 2 for n in shape):
        raise ParameterError(
            "output_shape: the output grid computed from the inputs and the WCS parameters is too small: "
            f"shape {shape} "
            f"(ny, nx), bounding box {bounding_box}, crpix offsets {tuple(float(o) for o in offsets)}"
        )

    fits_transform = FITSImagingWCSTransform(projection, crpix=offsets, crval=fiducial, cdelt=[scale, scale], pc=pc)
    wcs = gwcs.WCS(
        [
            gwcs.Step(copy.deepcopy(ref_wcs.input_frame), fits_transform),
            gwcs.Step(copy.deepcopy(ref_wcs.output_frame), None),
        ]
    )
    wcs.bounding_box = bounding_box
    wcs.pixel_shape = shape[::-1]
    log.info("Output grid %s (ny, nx), pixel scale %.6g arcsec, ratio %.6g", shape, 3600.0 * scale, ratio)
    return OutputGrid(wcs, tuple(int(n) for n in shape), float(scale), float(3600.0 * scale), float(ratio))


# -- grid from a file ----------------------------------------------------------------


def grid_from_file(path, output_shape=None, *, max_pixels=None):
    """The output grid of a custom WCS file (jwst's ``output_wcs`` step parameter).

    Parameters
    ----------
    path : str or os.PathLike
        ASDF file with a gwcs WCS under ``wcs`` and, optionally,
        ``pixel_scale`` (arcsec), ``pixel_area`` (arcsec^2), ``array_shape``
        (or ``pixel_shape``), used when the WCS does not say.
    output_shape : pair of int, optional
        ``(nx, ny)``; overrides the file's shape.
    max_pixels : int, optional
        Refuse larger grids (default $GPUCAL_MAX_OUTPUT_PIXELS or 4e9).

    Returns
    -------
    OutputGrid
        ``pixel_scale_ratio`` is None until resolved from the first input
        (:meth:`OutputGrid.with_reference_exposure`), as in stcal.

    Raises
    ------
    InputFileError
        Missing or unreadable file, no ``wcs`` entry, not a 2-D celestial gwcs,
        no shape information, or no way to compute the pixel scale.
    ParameterError
        Invalid ``output_shape`` or a grid larger than ``max_pixels``.
    """
    import asdf
    import gwcs

    output_shape = _pair(output_shape, "output_shape", integer=True, minimum=1)
    limit = max_output_pixels(max_pixels)
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: output_wcs file does not exist")
    try:
        with asdf.open(path) as af:
            tree = af.tree
            if "wcs" not in tree:
                raise InputFileError(
                    f"{path}: output_wcs file has no 'wcs' entry (expected a gwcs WCS under the 'wcs' key)"
                )
            wcs = copy.deepcopy(tree["wcs"])
            pixel_area = tree.get("pixel_area")
            pixel_scale = tree.get("pixel_scale")
            pixel_shape = tree.get("pixel_shape")
            array_shape = tree.get("array_shape", None if pixel_shape is None else pixel_shape[::-1])
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(f"{path}: output_wcs file cannot be read as ASDF ({type(exc).__name__}: {exc})") from None
    if not isinstance(wcs, gwcs.WCS):
        raise InputFileError(
            f"{path}: the 'wcs' entry of the output_wcs file is a {type(wcs).__name__}, not a gwcs WCS"
        )
    axes = tuple(wcs.output_frame.axes_type) if wcs.output_frame is not None else ()
    if len(axes) != 2 or any(a != "SPATIAL" for a in axes):
        raise InputFileError(f"{path}: the output WCS must have 2 celestial output axes, it has {axes}")
    try:
        projection_code(wcs)
    except ValueError as exc:
        raise InputFileError(f"{path}: {exc}") from None
    if pixel_scale is None and pixel_area is not None:
        pixel_scale = np.sqrt(pixel_area)

    if output_shape is not None:
        wcs.array_shape = tuple(output_shape[::-1])
    elif wcs.array_shape is None:
        if array_shape is not None:
            wcs.array_shape = tuple(array_shape)
        elif wcs.bounding_box is not None:
            wcs.array_shape = tuple(int(axis[1] + 0.5) for axis in wcs.bounding_box.bounding_box(order="C"))
        else:
            raise InputFileError(
                f"{path}: the output WCS has no array_shape, pixel_shape or bounding_box; give output_shape (nx, ny)"
            )
    shape = tuple(int(n) for n in wcs.array_shape)
    if min(shape) < 1:
        raise InputFileError(f"{path}: invalid output frame shape {shape}")
    scale_text = "the file's pixel scale" if pixel_scale is None else f"{float(pixel_scale):.6g} arcsec/pixel"
    _check_size(shape, limit, scale_text, "", f"of {path}")
    if pixel_scale is None:
        area = mean_pixel_area(wcs)
        if area is None or area <= 0:
            raise InputFileError(
                f"{path}: cannot compute the pixel scale of the output WCS; add 'pixel_scale' (arcsec) to the file"
            )
        pixel_scale = 3600.0 * np.rad2deg(math.sqrt(area))
    return OutputGrid(wcs, shape, float(pixel_scale) / 3600.0, float(pixel_scale), None, source=str(path))


def combined_s_region(exposures, grid):
    """The output S_REGION jwst 3.0 writes: union of the inputs' S_REGIONs, clipped to the output footprint.

    Parameters
    ----------
    exposures : sequence of gpucal.io.exposure.Exposure
    grid : OutputGrid

    Returns
    -------
    str or None
        ``POLYGON ICRS  ...`` (several polygons if the union has several
        parts), or None where jwst logs a warning and writes no S_REGION (the
        inputs' polygons have different vertex counts, or do not overlap the
        output).
    """
    footprints = []
    for index, exposure in enumerate(exposures):
        text = exposure.meta.wcsinfo.s_region
        if not text:
            raise InputFileError(f"{_name(exposure, index)}: meta.wcsinfo.s_region (S_REGION) is missing")
        try:
            footprints.extend(parse_s_region(text))
        except ValueError as exc:
            raise InputFileError(f"{_name(exposure, index)}: S_REGION {text!r} cannot be read ({exc})") from None
    wcs = grid.wcs
    if "moving_target" in wcs.available_frames:
        det2world = wcs.get_transform(wcs.input_frame, "moving_target")
    else:
        det2world = wcs.get_transform(wcs.input_frame, wcs.output_frame)
    try:
        return combine_s_regions(footprints, det2world, wcs.footprint())
    except ValueError as exc:
        log.warning("Could not combine S_REGIONs: %s. Output S_REGION will not be set.", exc)
        return None
