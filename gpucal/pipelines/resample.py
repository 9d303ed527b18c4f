"""resample: jwst's ``ResampleStep``, shared by image2 (one exposure's ``_i2d``) and image3 (the mosaic).

The parameters are jwst's; the drizzle engine lives in :mod:`gpucal.resample`.
``blendheaders`` acts as in jwst: image3's mosaic blends its inputs' metadata
(:mod:`gpucal.io.blend`) and carries their ``HDRTAB`` table; off, it carries
the first input's metadata and no table. image2 resamples a single exposure,
for which jwst turns blending off, so it has no effect there. Two of jwst's
parameters have nothing to choose in gpucal and say so: ``in_memory`` (inputs
are always read one at a time, never all held) and ``pixmap_order`` (used only
with ``pixmap_stepsize > 1``; gpucal always evaluates the exact pixel map,
which is faster than jwst's sampled one).
"""

import dataclasses
import math
import typing

from gpucal.errors import ParameterError
from gpucal.pipelines.params import field
from gpucal.pipelines.step import Step

__all__ = ["RESAMPLE_KERNELS", "ResampleStep"]

RESAMPLE_KERNELS = ("square", "gaussian", "point", "turbo", "lanczos2", "lanczos3")


@dataclasses.dataclass(frozen=True)
class ResampleStep(Step):
    """Resample an exposure onto a rectified, distortion-free grid with drizzle."""

    alias: typing.ClassVar[str] = "resample"
    jwst_class: typing.ClassVar[str] = "jwst.resample.resample_step.ResampleStep"
    reference_file_types: typing.ClassVar[tuple] = ()

    pixfrac: float = field(1.0, doc="drizzle pixel shrink factor", min=0.0, max=1.0)
    kernel: str = field("square", doc="drizzle kernel", choices=RESAMPLE_KERNELS)
    fillval: str = field("NAN", doc="value for output pixels without input ('NAN', 'INDEF' or a number)")
    weight_type: str | None = field(
        "ivm",
        doc="input weighting: inverse read-noise variance, exposure time, or None (1 for good pixels)",
        choices=("ivm", "exptime"),
    )
    output_shape: tuple[int, ...] | None = field(None, doc="output shape (nx, ny)", length=2, min=1)
    crpix: tuple[float, ...] | None = field(None, doc="output reference pixel (0-based x, y)", length=2)
    crval: tuple[float, ...] | None = field(None, doc="output reference sky position (RA, Dec deg)", length=2)
    rotation: float | None = field(None, doc="output rotation: angle of +Y from North, degrees East of North")
    pixel_scale_ratio: float = field(1.0, doc="output/input pixel scale ratio", min=0.0)
    pixel_scale: float | None = field(None, doc="output pixel scale (arcsec)", min=0.0)
    output_wcs: str = field("", doc="ASDF file holding the output WCS")
    single: bool = field(False, doc="resample each input separately, ERR drizzled directly (no variances)")
    blendheaders: bool = field(True, doc="blend the inputs' metadata into the mosaic and add their HDRTAB table")
    in_memory: bool = field(True, doc="no effect: gpucal reads inputs one at a time")
    good_bits: str = field("~DO_NOT_USE+NON_SCIENCE", doc="DQ bits treated as good")
    enable_ctx: bool = field(True, doc="compute the context (CON) array")
    enable_err: bool = field(True, doc="compute ERR and variance arrays")
    report_var: bool = field(True, doc="write the variance arrays")
    propagate_dq: bool = field(False, doc="write a DQ array (OR of input DQ)")
    pixmap_stepsize: float = field(1.0, doc="pixel-map sampling step (1 = exact)", min=1.0)
    pixmap_order: int = field(1, doc="spline order for a sampled pixel map", min=1, max=3)

    def __post_init__(self):
        super().__post_init__()
        self.check_grid_parameters()

    def check_grid_parameters(self):
        """Refuse grid parameters that would give a nonsense grid, before any input is read."""

        def bad(name, why):
            raise ParameterError(f"{self.alias}: {name}: {why}")

        for name in ("pixfrac", "pixel_scale_ratio", "pixel_scale", "rotation"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                bad(name, f"must be a finite number, not {value!r}")
        if not 0.0 < self.pixfrac <= 1.0:
            bad("pixfrac", f"must be in (0, 1], not {self.pixfrac!r}")
        if self.pixel_scale_ratio <= 0.0:
            bad("pixel_scale_ratio", f"must be positive, not {self.pixel_scale_ratio!r}")
        if self.pixel_scale is not None and self.pixel_scale <= 0.0:
            bad("pixel_scale", f"must be positive, not {self.pixel_scale!r}")
        if self.crval is not None:
            ra, dec = self.crval
            if not (math.isfinite(ra) and 0.0 <= ra < 360.0):
                bad("crval", f"RA must be in [0, 360) degrees, not {ra!r}")
            if not (math.isfinite(dec) and -90.0 <= dec <= 90.0):
                bad("crval", f"Dec must be in [-90, 90] degrees, not {dec!r}")
        if self.crpix is not None and not all(math.isfinite(v) for v in self.crpix):
            bad("crpix", f"must be finite, not {list(self.crpix)!r}")

    def process(self, exposure, ctx):
        """image2: drizzle one exposure onto its own grid (image3 calls :mod:`gpucal.resample.mosaic`)."""
        from gpucal.resample.step import resample_exposure

        return resample_exposure(self, exposure, ctx)
