"""Sky footprints, their overlaps, and overlap masks in pixels (stcal ``skyimage``).

* :func:`footprint_polygon`: the spherical polygon through an image's border,
  pixel corners ``-0.5 .. n - 0.5``: the 4 corners, or points every
  ``stepsize`` pixels along the edges (at least 2 per edge), mapped with the
  forward WCS (without its bounding box). Built from the WCS alone.
* :func:`intersection`: the overlap of two footprints; an intersection that
  ``spherical_geometry`` cannot form (``MalformedPolygonError``) is, as in
  stcal, replaced by the first polygon itself.
* :func:`overlap_mask`: the pixels of an image inside a list of overlap
  polygons: their vertices are mapped to pixels with ``wcs.invert`` and each
  polygon is filled with :func:`scan_fill`, a re-implementation of gwcs's
  ``region.Polygon.scan`` (the one stcal uses) with its exact rules and
  quirks: vertices shifted so that the bounding box starts at >= 0, rounded
  with Python's ``round`` (half to even); edges enter the active table at
  their lower end and leave at their upper end, except on the last scan line
  where the table is not updated; crossings are the ceiling of the
  intersection of the edge's line with the scan line; pixels between
  consecutive pairs of sorted crossings are set (Python slice semantics).

Spherical geometry is ``spherical_geometry.polygon.SphericalPolygon`` (the
package stcal uses), so areas and intersections are the same numbers.
"""

import numpy as np

__all__ = ["footprint_polygon", "intersection", "overlap_mask", "polygon_area", "scan_fill"]

_INTERSECT_ATOL = 1e2 * np.finfo(float).eps


def footprint_polygon(wcs, shape, stepsize=None):
    """Spherical polygon of an image's footprint (stcal's bounding polygon).

    Parameters
    ----------
    wcs : gwcs.WCS
        Forward transform pixel -> (ra, dec) in degrees.
    shape : (ny, nx)
    stepsize : int or None
        Spacing in pixels of border points; None gives the 4 corners.

    Returns
    -------
    spherical_geometry.polygon.SphericalPolygon
    """
    from spherical_geometry.polygon import SphericalPolygon

    ny, nx = (int(n) for n in shape[-2:])
    if stepsize is None:
        nx_pts = ny_pts = 2
    else:
        nx_pts = max(2, int(np.ceil((nx + 1.0) / stepsize)))
        ny_pts = max(2, int(np.ceil((ny + 1.0) / stepsize)))
    xs = np.linspace(-0.5, nx - 0.5, nx_pts, dtype=float)
    ys = np.linspace(-0.5, ny - 0.5, ny_pts, dtype=float)[1:-1]
    # counter-clockwise in pixels: bottom edge, right edge, top edge (reversed), left edge (reversed), closed
    x = np.concatenate([xs, np.full(ys.size, nx - 0.5), xs[::-1], np.full(ys.size, -0.5), xs[:1]])
    y = np.concatenate([np.full(xs.size, -0.5), ys, np.full(xs.size, ny - 0.5), ys[::-1], [-0.5]])
    ra, dec = wcs(x, y, with_bounding_box=False)
    ra = np.array(ra, dtype=float)
    dec = np.array(dec, dtype=float)
    ra[-1], dec[-1] = ra[0], dec[0]
    return SphericalPolygon.from_radec(ra, dec)


def polygon_area(polygon):
    """Absolute area (steradians) of a spherical polygon."""
    return float(np.fabs(polygon.area()))


def intersection(polygon, other):
    """Overlap of ``polygon`` with ``other`` (``polygon`` itself when the intersection is malformed)."""
    from spherical_geometry.polygon import MalformedPolygonError

    try:
        return polygon.intersection(other)
    except MalformedPolygonError:
        return polygon.copy()


def overlap_mask(shape, wcs, pieces, inverse=None):
    """Pixels of an image inside overlap polygons given in (ra, dec).

    Parameters
    ----------
    shape : (ny, nx)
    wcs : gwcs.WCS
        The image's WCS; ``wcs.invert(ra, dec, with_bounding_box=False)`` maps vertices to pixels.
    pieces : iterable of (ra, dec) arrays
        Closed vertex lists (as ``SphericalPolygon.to_radec`` yields); lists of
        fewer than 4 vertices are skipped.
    inverse : callable, optional
        ``wcs.backward_transform``, built once by the caller for all of an image's
        overlaps (what ``wcs.invert`` evaluates without a bounding box; building it
        costs far more than evaluating it on a few vertices).

    Returns
    -------
    numpy.ndarray of bool, shape ``shape``
    """
    mask = np.zeros(tuple(int(n) for n in shape[-2:]), dtype=bool)
    for ra, dec in pieces:
        if len(ra) < 4:
            continue
        if inverse is not None:
            x, y = inverse(ra, dec)
        else:
            x, y = wcs.invert(ra, dec, with_bounding_box=False)
        scan_fill(mask, np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return mask


def scan_fill(mask, x, y):
    """Set the pixels of ``mask`` inside the closed pixel polygon ``(x, y)`` (gwcs ``Polygon.scan`` rules).

    Parameters
    ----------
    mask : numpy.ndarray of bool, 2-D
        Updated in place.
    x, y : sequence of float
        Vertices; the last repeats the first.

    Returns
    -------
    numpy.ndarray
        ``mask``.
    """
    if len(x) < 4:
        raise ValueError(f"scan_fill: a polygon needs at least 4 vertices (closed), got {len(x)}")
    shift_x = min(0, min(x))
    shift_y = min(0, min(y))
    vx = np.array([round(v - shift_x) for v in x], dtype=np.int64)
    vy = np.array([round(v - shift_y) for v in y], dtype=np.int64)
    shift_x = round(shift_x)
    shift_y = round(shift_y)
    bx0, by0 = int(vx.min()), int(vy.min())
    width = int(vx.max()) - bx0
    top = int(vy.max())
    if width <= 0:
        return mask
    # edges (start, stop) in vertex order; horizontal edges never become active
    sx, sy, ex, ey = vx[:-1], vy[:-1], vx[1:], vy[1:]
    edge_ymin = np.where(sy < ey, sy, ey)
    edge_ymax = np.maximum(sy, ey)
    sloped = sy != ey
    ny, nx = mask.shape
    active = []
    for yline in range(by0, top + 1):
        if yline < top:
            active.extend(int(k) for k in np.nonzero(sloped & (edge_ymin == yline))[0])
            active = [k for k in active if edge_ymax[k] != yline]
        ysh = yline + shift_y
        if ysh < 0 or ysh >= ny or not active:
            continue
        crossings = sorted(_crossing(sx[k], sy[k], ex[k], ey[k], bx0, width, yline) for k in active)
        for i, j in zip(crossings[::2], crossings[1::2], strict=False):
            xstart = max(0, i + shift_x)
            xend = min(j + shift_x, nx - 1)
            mask[ysh][xstart : xend + 1] = True
    return mask


def _crossing(sx, sy, ex, ey, bx0, width, yline):
    """Ceiling of the x where the edge's line meets scan line ``yline`` (gwcs ``Edge.intersection``)."""
    ux, uy = int(ex - sx), int(ey - sy)
    det = -uy * width  # det(u, v) with v = (width, 0)
    if abs(det) < _INTERSECT_ATOL:
        return int(np.ceil(float(sx)))
    t = np.float64(width * (int(sy) - yline)) / np.float64(det)
    return int(np.ceil(t * ux + int(sx)))
