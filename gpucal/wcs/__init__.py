"""World coordinate systems: building JWST imaging gwcs objects, footprints,
FITS approximations, and (for resampling) evaluating them in bulk.

This subpackage collects what assign_wcs, resample, tweakreg and the
simulator all need, so the same WCS code serves every stage. The compiler
(:func:`compile_transform`, :func:`compile_pixmap`) loads numba only when
called.
"""

__all__ = ["PixmapPlan", "compile_pixmap", "compile_transform"]


def __getattr__(name):
    if name in __all__:
        from gpucal.wcs import compile as _compile

        return getattr(_compile, name)
    raise AttributeError(name)
