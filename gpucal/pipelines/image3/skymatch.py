"""skymatch (image3): sky levels of overlapping exposures matched (jwst ``SkyMatchStep``).

The statistics and the solve live in :mod:`gpucal.skymatch`; this step checks
the inputs' background state as jwst does, records ``BKGLEVEL``, ``BKGSUB``,
``BKGMETH`` and ``S_SKYMAT`` per exposure, and subtracts the level from the
data only when ``subtract`` is true (the working copy is then stored).
"""

import dataclasses
import logging
import typing

from gpucal.pipelines.params import field
from gpucal.pipelines.progress import step_progress
from gpucal.pipelines.step import LibraryStep

__all__ = ["SkyMatchStep"]

log = logging.getLogger("gpucal")

SKY_METHODS = ("local", "global", "match", "global+match", "user")
SKY_STATISTICS = ("median", "midpt", "mean", "mode")


@dataclasses.dataclass(frozen=True)
class SkyMatchStep(LibraryStep):
    """Compute (and optionally subtract) each exposure's sky so that overlaps agree."""

    alias: typing.ClassVar[str] = "skymatch"
    jwst_class: typing.ClassVar[str] = "jwst.skymatch.skymatch_step.SkyMatchStep"

    skymethod: str = field("match", doc="sky computation method", choices=SKY_METHODS)
    match_down: bool = field(True, doc="adjust sky to the lowest measured value")
    subtract: bool = field(False, doc="subtract the computed sky from the data")
    skylist: str | None = field(None, doc="file of (image name, sky value) pairs for skymethod 'user'")
    stepsize: int | None = field(None, doc="maximum vertex separation of footprint polygons (pixels)", min=1)
    skystat: str = field("mode", doc="sky statistic", choices=SKY_STATISTICS)
    dqbits: str = field("~DO_NOT_USE+NON_SCIENCE", doc="DQ bits treated as good")
    lower: float | None = field(None, doc="lower limit of good pixel values")
    upper: float | None = field(None, doc="upper limit of good pixel values")
    nclip: int = field(5, doc="number of sky clipping iterations", min=0)
    lsigma: float = field(4.0, doc="lower clipping limit, in sigma", min=0.0)
    usigma: float = field(4.0, doc="upper clipping limit, in sigma", min=0.0)
    binwidth: float = field(0.1, doc="bin width for 'mode' and 'midpt', in sigma", min=0.0)
    in_memory: bool = field(True, doc="unused by gpucal's library, which never holds all inputs (kept for jwst files)")

    def params(self):
        from gpucal.skymatch import SkyMatchParams

        names = {f.name for f in dataclasses.fields(SkyMatchParams)}
        return SkyMatchParams(**{n: getattr(self, n) for n in names})

    def process(self, library, ctx):
        from gpucal.skymatch import match_sky, subtract_sky

        with step_progress(self.alias, len(library)) as advance:
            result = match_sky(library.members, self.params(), ctx.device, progress=lambda _index: advance())
        for member, level, status, steps in zip(library, result, result.status, _steps(result, library), strict=True):
            member.meta.cal_step.skymatch = status
            if status != "COMPLETE":
                log.warning("skymatch: %s: no sky could be computed or matched; BKGLEVEL left unset", member.name)
                continue
            bkg = member.meta.background
            bkg.method = result.method
            bkg.level = float(level)
            bkg.subtracted = result.subtract
            if steps:
                exposure = member.load()
                exposure.data = subtract_sky(exposure.data.copy(), steps)
                member.store(exposure)
        return library


def _steps(result, library):
    return result.steps if result.subtract else [()] * len(library)
