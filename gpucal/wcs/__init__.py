"""World coordinate systems: building JWST imaging gwcs objects, footprints,
FITS approximations, and (for resampling) evaluating them in bulk.

This subpackage collects what assign_wcs, resample, tweakreg and the
simulator all need, so the same WCS code serves every stage.
"""
