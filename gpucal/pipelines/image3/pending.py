"""tweakreg and source_catalog: declared in jwst's order, not yet implemented in gpucal.

They come with the next issue. Until then image3 runs them as skipped steps
that say so in the log (never silently) and record ``S_TWKREG`` /
``S_SRCCAT = SKIPPED``; they accept only the generic step parameters, so a
tweakreg or catalog parameter given today is an error rather than ignored.
"""

import dataclasses
import logging
import typing

from gpucal.pipelines.step import LibraryStep, Step

__all__ = ["SourceCatalogStep", "TweakRegStep"]

log = logging.getLogger("gpucal")


@dataclasses.dataclass(frozen=True)
class _PendingStep(LibraryStep):
    what: typing.ClassVar[str] = ""

    def process(self, library, ctx):
        log.info("%s: not implemented in gpucal yet; skipped (%s)", self.alias, self.what)
        self.mark(library, "SKIPPED")
        return library


@dataclasses.dataclass(frozen=True)
class TweakRegStep(_PendingStep):
    """Relative/absolute astrometric alignment (jwst ``TweakRegStep``): pending."""

    alias: typing.ClassVar[str] = "tweakreg"
    jwst_class: typing.ClassVar[str] = "jwst.tweakreg.tweakreg_step.TweakRegStep"
    what: typing.ClassVar[str] = "the exposures' WCSs are used as they are"


@dataclasses.dataclass(frozen=True)
class SourceCatalogStep(Step):
    """The mosaic's source catalog (jwst ``SourceCatalogStep``): pending."""

    alias: typing.ClassVar[str] = "source_catalog"
    jwst_class: typing.ClassVar[str] = "jwst.source_catalog.source_catalog_step.SourceCatalogStep"
    cal_step: typing.ClassVar[str | None] = "source_catalog"
    what: typing.ClassVar[str] = "no _cat.ecsv or _segm.fits is written"

    def process(self, product, ctx):
        log.info("%s: not implemented in gpucal yet; skipped (%s)", self.alias, self.what)
        product.meta.cal_step.set(self.status_key, "SKIPPED")
        return product
