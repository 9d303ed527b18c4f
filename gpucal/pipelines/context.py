"""State shared by the steps of one pipeline run.

A :class:`RunContext` knows the device the exposure lives on, where outputs
go and under which name, how to find reference files for each step (its
overrides first), and collects per-step timings for the summary. Steps stay
thin: they ask the context for references, kernels' device and saving.
"""

import dataclasses
import logging
import os
import pathlib

from gpucal._version import __version__
from gpucal.engine import synchronize
from gpucal.io.exposure import write_exposure
from gpucal.io.refs import ReferenceSelector
from gpucal.io.schema import schema_children, schema_doc

__all__ = ["RunContext"]

log = logging.getLogger("gpucal")


class _Selector(ReferenceSelector):
    """A reference selector that remembers which paths came from the CRDS cache."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._crds_paths = set()

    def _crds(self, reftype, meta):
        path = super()._crds(reftype, meta)
        if path not in (None, "N/A"):
            self._crds_paths.add(str(path))
        return path

    def came_from_crds(self, path):
        return str(path) in self._crds_paths


@dataclasses.dataclass
class RunContext:
    """Per-run state: device, outputs, references, timings.

    Parameters
    ----------
    device : gpucal.engine.Device
    output_dir : pathlib.Path
    product_name : str
        Root of output names (the exposure root, or the ASN product name).
    ref_dir : str, optional
        Local reference folder for all steps.
    backgrounds : list of pathlib.Path
        Background members of the image2 association.
    asn_pool, asn_table : str
        Recorded in ``meta.asn`` as jwst does.
    writer : concurrent.futures.Executor, optional
        Writes outputs in the background when given (``written`` then holds
        futures of the paths; the pipeline waits for them).
    mosaic_builder, outlier_result, intermediate, catalog
        Stage 3 state handed from step to step: the mosaic that outlier
        detection feeds as it flags, what outlier detection reported, its
        staged intermediate products ``(path, name)``, the source catalog.
    """

    device: object
    output_dir: pathlib.Path
    product_name: str
    ref_dir: str | None = None
    backgrounds: list = dataclasses.field(default_factory=list)
    asn_pool: str | None = None
    asn_table: str | None = None
    writer: object = None
    timings: list = dataclasses.field(default_factory=list)
    written: list = dataclasses.field(default_factory=list)
    mosaic_builder: object = None
    outlier_result: object = None
    intermediate: list = dataclasses.field(default_factory=list)
    catalog: object = None
    _selectors: dict = dataclasses.field(default_factory=dict)

    def references(self, step):
        """The reference selector for a step (its ``override_*`` parameters first)."""
        key = (step.alias, tuple(sorted(step.overrides.items())))
        if key not in self._selectors:
            self._selectors[key] = _Selector(dict(step.overrides), ref_dir=self.ref_dir)
        return self._selectors[key]

    def record_reference(self, exposure, reftype, recorded):
        """Write ``meta.ref_file.<reftype>.name`` (R_* keyword) when the schema has it."""
        ref_file = schema_children(schema_doc()["meta"]).get("ref_file")
        if reftype in schema_children(ref_file):
            exposure.meta.ref_file.set(f"{reftype}.name", recorded)

    def synchronize(self):
        """Wait for the device, so step timings include their kernels."""
        synchronize(self.device)

    def finalize(self, exposure):
        """Stamp the software that produced the result (CAL_VER, CAL_VCS)."""
        if exposure is not None:
            exposure.meta.calibration_software_version = f"gpucal {__version__}"
            exposure.meta.calibration_software_revision = "RELEASE"

    def output_path(self, suffix, root=None):
        """``<output_dir>/<root>_<suffix>.fits``."""
        return pathlib.Path(self.output_dir) / f"{root or self.product_name}_{suffix}.fits"

    def write(self, exposure, suffix, *, root=None):
        """Write an exposure (moving a host copy off the device if needed); returns the path."""
        product = (
            exposure if all(type(a).__module__ == "numpy" for a in exposure.arrays.values()) else exposure.host_copy()
        )
        path = write_exposure(product, self.output_path(suffix, root))
        self.written.append(path)
        log.info("wrote %s", os.fspath(path))
        return path

    def save(self, exposure, step):
        """Save a step's intermediate result under its suffix (``save_results``)."""
        suffix = step.suffix or step.alias
        output_dir = step.output_dir or self.output_dir
        previous, self.output_dir = self.output_dir, output_dir
        try:
            return self.write(exposure, suffix, root=step.output_file)
        finally:
            self.output_dir = previous
