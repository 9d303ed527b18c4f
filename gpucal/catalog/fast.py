"""photutils' two slowest detection steps, computed by gpucal's kernels with photutils' results.

jwst's tweakreg and source_catalog find sources with photutils, and gpucal
calls the same photutils classes so that its catalogs are jwst's. Two of
their steps take most of the time on a full frame and are pure array math,
so gpucal computes them with registered kernels that give photutils' values
bit for bit (``tests/kernels`` and ``tests/catalog/test_fast.py`` check it):

* :func:`background_images`: ``Background2D.background`` and
  ``background_rms`` (a bicubic spline zoom of the coarse mesh, run by scipy
  in one thread) from the same mesh with the ``background_zoom`` kernel;
* :func:`fast_circular_peaks`: while active, photutils' star finders test
  their peaks with the ``circular_peaks`` kernel instead of its Python loop.

Anything these do not recognise (another interpolator, a photutils without
the function replaced) runs photutils' own code: slower, never different.
"""

import contextlib
import threading

import numpy as np

__all__ = ["background_images", "fast_circular_peaks"]

_LOCK = threading.Lock()
_ACTIVE = [0, None]  # number of active contexts, photutils' original function


def _is_default_zoom(interpolator):
    """Whether ``Background2D`` uses its default interpolator (what the kernel reproduces)."""
    return (
        type(interpolator).__name__ in ("_BkgZoomInterpolator", "BkgZoomInterpolator")
        and getattr(interpolator, "order", None) == 3
        and getattr(interpolator, "mode", None) == "reflect"
        and getattr(interpolator, "clip", None) is True
    )


def background_images(bkg, shape, device=None):
    """``(background, background_rms)`` of a photutils ``Background2D`` for data of ``shape``.

    Parameters
    ----------
    bkg : photutils.background.Background2D
        Of plain arrays or of Quantities (the images then carry the unit).
    shape : tuple of int
        Shape of the data ``bkg`` was computed from.
    device : gpucal.engine.Device, optional
        Where the kernel runs (default: the CPU); the images come back as the
        device's array type.

    Returns
    -------
    background, background_rms : arrays of ``shape``
        Equal to ``bkg.background`` and ``bkg.background_rms``.
    """
    if not _is_default_zoom(getattr(bkg, "interpolator", None)):
        return bkg.background, bkg.background_rms
    from gpucal.engine import CPU
    from gpucal.kernels import kernel_for

    device = CPU if device is None else device
    zoom = kernel_for("background_zoom", device)
    images = []
    for mesh in (bkg.background_mesh, bkg.background_rms_mesh):
        unit = getattr(mesh, "unit", None)  # photutils keeps the data's unit on its meshes and images
        image = zoom(device.xp.asarray(np.asarray(getattr(mesh, "value", mesh))), bkg.box_size, shape)
        if bkg.coverage_mask is not None:
            image[device.xp.asarray(bkg.coverage_mask)] = bkg.fill_value
        images.append(image if unit is None else image << unit)
    return tuple(images)


def _peaks(data, radius):
    from gpucal.engine import CPU
    from gpucal.kernels import kernel_for

    return kernel_for("circular_peaks", CPU)(data, radius)


@contextlib.contextmanager
def fast_circular_peaks():
    """Let photutils' peak finder use the ``circular_peaks`` kernel inside this block.

    photutils' ``find_peaks`` (called by ``IRAFStarFinder`` and
    ``DAOStarFinder``) looks its helper ``_fast_circular_peaks`` up in its
    module at each call; inside this block that name is the kernel, which
    returns the same mask. Nested and concurrent blocks share one
    replacement; the original is put back when the last one ends. Without
    that helper (another photutils version) nothing is replaced.
    """
    try:
        from photutils.detection import peakfinder
    except ImportError:  # pragma: no cover - photutils is a dependency
        yield
        return
    with _LOCK:
        if _ACTIVE[0] == 0:
            original = getattr(peakfinder, "_fast_circular_peaks", None)
            _ACTIVE[1] = original
            if original is not None:
                peakfinder._fast_circular_peaks = _peaks
        _ACTIVE[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _ACTIVE[0] -= 1
            if _ACTIVE[0] == 0 and _ACTIVE[1] is not None:
                peakfinder._fast_circular_peaks = _ACTIVE[1]
                _ACTIVE[1] = None
