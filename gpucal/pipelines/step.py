"""The step base class: parameters, reference files, status keywords, timing.

A concrete step is a frozen dataclass that subclasses :class:`Step`, sets
``alias`` (jwst's ``class_alias``) and ``reference_file_types``, declares its
jwst parameters as fields, and implements ``process(exposure, ctx)``. The base
class supplies what every jwst step has: ``skip``, ``save_results``,
``suffix``, ``output_dir``, ``output_file``, the ``override_<reftype>``
parameters, ``cal_step`` recording and one log line with the wall time.
"""

import abc
import dataclasses
import logging
import os
import time
import typing
from collections.abc import Mapping

from gpucal.errors import ParameterError
from gpucal.pipelines.params import coerce, field, validate

__all__ = ["LibraryStep", "Step"]

log = logging.getLogger("gpucal")

#: stpipe's generic parameters that gpucal accepts (jwst parameter files carry
#: them) but that have no effect here.
IGNORED_STPIPE_PARAMETERS = {
    "output_ext": ".fits", "output_use_model": None, "output_use_index": None, "search_output_file": None,
    "input_dir": None, "pre_hooks": [], "post_hooks": [], "class": None, "name": None,
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Step(abc.ABC):
    """Base of all steps (jwst ``Step`` semantics)."""

    alias: typing.ClassVar[str] = ""
    #: jwst class path, written in parameter files.
    jwst_class: typing.ClassVar[str] = ""
    reference_file_types: typing.ClassVar[tuple] = ()
    #: Keyword under meta.cal_step recording this step (alias unless different).
    cal_step: typing.ClassVar[str | None] = None

    skip: bool = field(False, doc="skip this step")
    save_results: bool = field(False, doc="save this step's output")
    suffix: str | None = field(None, doc="suffix of the saved output")
    output_dir: str | None = field(None, doc="folder of the saved output")
    output_file: str | None = field(None, doc="file name root of the saved output")
    overrides: Mapping = field({}, doc="override_<reftype> reference files")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if f.name == "overrides":
                continue
            value = coerce(self.alias, f.name, getattr(self, f.name), f.type)
            validate(self.alias, f.name, value, f.metadata)
            object.__setattr__(self, f.name, value)
        unknown = set(self.overrides) - set(self.reference_file_types)
        if unknown:
            names = ", ".join(f"override_{u}" for u in sorted(unknown))
            raise ParameterError(f"{self.alias}: unknown parameter(s) {names}")

    # -- parameters ----------------------------------------------------------
    @classmethod
    def parameter_names(cls):
        """The jwst parameter names this step accepts."""
        names = [f.name for f in dataclasses.fields(cls) if f.name != "overrides"]
        return names + [f"override_{r}" for r in cls.reference_file_types]

    @classmethod
    def from_dict(cls, params):
        """Build the step from jwst-named parameters (``override_flat`` ...).

        Unknown names raise :class:`ParameterError`; stpipe's generic
        parameters that have no meaning here are accepted and ignored.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs, overrides = {}, {}
        for name, value in params.items():
            if name.startswith("override_"):
                reftype = name[len("override_") :]
                if reftype not in cls.reference_file_types:
                    raise ParameterError(f"{cls.alias}: unknown parameter {name!r}")
                if value not in (None, ""):
                    overrides[reftype] = str(value)
            elif name in fields and name != "overrides":
                kwargs[name] = value
            elif name in IGNORED_STPIPE_PARAMETERS:
                continue
            else:
                raise ParameterError(
                    f"{cls.alias}: unknown parameter {name!r} (known: {', '.join(cls.parameter_names())})"
                )
        return cls(**kwargs, overrides=overrides)

    def to_dict(self):
        """Parameters by jwst name (overrides expanded to ``override_<reftype>``)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "overrides":
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        for reftype in self.reference_file_types:
            out[f"override_{reftype}"] = self.overrides.get(reftype)
        return out

    def replace(self, **changes):
        """A copy with some parameters changed."""
        return dataclasses.replace(self, **changes)

    # -- running -------------------------------------------------------------
    @property
    def status_key(self):
        return self.cal_step or self.alias

    def reference(self, reftype, exposure, ctx):
        """Select the ``reftype`` reference for an exposure and record it in ``meta.ref_file``.

        Returns the path, or ``"N/A"``.
        """
        path = ctx.references(self).select(reftype, exposure.meta, source=getattr(exposure, "path", None))
        if path == "N/A":
            recorded = "N/A"
        elif ctx.references(self).came_from_crds(path):
            recorded = "crds://" + os.path.basename(path)
        else:
            recorded = os.path.abspath(path)
        ctx.record_reference(exposure, reftype, recorded)
        return path

    def run(self, exposure, ctx, *args):
        """Run the step (or record it as skipped), log its wall time, add its result to the product set if asked."""
        if self.skip:
            log.info("%s: skipped", self.alias)
            exposure.meta.cal_step.set(self.status_key, "SKIPPED")
            ctx.timings.append((self.alias, 0.0, "skipped"))
            return exposure
        start = time.perf_counter()
        result = self.process(exposure, ctx, *args)
        ctx.synchronize()
        elapsed = time.perf_counter() - start
        status = result.meta.cal_step.get(self.status_key) if result is not None else None
        ctx.timings.append((self.alias, elapsed, status or ""))
        log.info("%-18s %-9s %8.3f s", self.alias, status or "", elapsed)
        ctx.finalize(result)
        if self.save_results and result is not None:
            # Steps work in place: a result that is (or shares the meta of) the exposure the next steps will
            # change is copied now, since the product set is written when the exposure is done.
            ctx.save(result, self, snapshot=result is exposure or result.meta_tree is exposure.meta_tree)
        return result

    @abc.abstractmethod
    def process(self, exposure, ctx, *args):
        """The step's work on an exposure already on ``ctx.device``; returns the exposure."""


@dataclasses.dataclass(frozen=True)
class LibraryStep(Step):
    """A Stage 3 step: works on an :class:`~gpucal.io.library.ExposureLibrary`, not one exposure.

    ``process(library, ctx)`` returns the library (or a combined product).
    Skipping records ``SKIPPED`` in every member's status keyword, as jwst
    does for a skipped step on a ``ModelLibrary``.
    """

    def run(self, library, ctx, *args):
        """Run the step on every member (or record it as skipped) and log its wall time."""
        if self.skip:
            log.info("%s: skipped", self.alias)
            self.mark(library, "SKIPPED")
            ctx.timings.append((self.alias, 0.0, "skipped"))
            return library
        start = time.perf_counter()
        result = self.process(library, ctx, *args)
        ctx.synchronize()
        elapsed = time.perf_counter() - start
        status = self.status_of(library)
        ctx.timings.append((self.alias, elapsed, status))
        log.info("%-18s %-9s %8.3f s", self.alias, status, elapsed)
        return result

    def mark(self, library, status):
        """Set this step's status keyword on every member."""
        for member in library:
            member.meta.cal_step.set(self.status_key, status)

    def status_of(self, library):
        """The members' status for this step (one value, or ``"MIXED"``)."""
        values = {member.meta.cal_step.get(self.status_key) or "" for member in library}
        return values.pop() if len(values) == 1 else "MIXED"
