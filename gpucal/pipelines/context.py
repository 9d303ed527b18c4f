"""State shared by the steps of one pipeline run.

A :class:`RunContext` knows the device the exposure lives on, where outputs
go and under which name, how to find reference files for each step (its
overrides first), and collects per-step timings for the summary. Steps stay
thin: they ask the context for references, kernels' device and saving.

Saving does not write: :meth:`RunContext.add_product` keeps a host copy of the
product in :attr:`RunContext.products`, the exposure's product set, which the
pipeline hands to its :class:`~gpucal.pipelines.writer.ProductWriter` when the
exposure is done, so that the set is written (in the background) and renamed
into place as a whole.
"""

import dataclasses
import logging
import pathlib

import numpy as np

from gpucal._version import __version__
from gpucal.engine import synchronize
from gpucal.io.exposure import Exposure
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
    writer : gpucal.pipelines.writer.ProductWriter, optional
        Writes the run's product sets (image2: in the background while the next
        exposure is calibrated).
    products : list of (Exposure, pathlib.Path)
        This exposure's product set so far: host products and their final paths,
        not yet written (:meth:`add_product`).
    written : list of pathlib.Path
        Files in place (set once the product set is committed).
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
    products: list = dataclasses.field(default_factory=list)
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

    def output_path(self, suffix, root=None, output_dir=None):
        """``<output_dir>/<root>_<suffix>.fits`` (the run's folder and product name unless given)."""
        return pathlib.Path(output_dir or self.output_dir) / f"{root or self.product_name}_{suffix}.fits"

    def add_product(self, exposure, suffix, *, root=None, output_dir=None, snapshot=False):
        """Add a product to this exposure's product set; returns the path it will have.

        Parameters
        ----------
        exposure : Exposure
            The product (arrays on the device are copied to the host).
        suffix : str
            ``<root>_<suffix>.fits``.
        root, output_dir : str, optional
            Instead of the run's product name and output folder.
        snapshot : bool
            Copy the arrays and meta now: the exposure is still being calibrated in
            place (an intermediate result), and the set is written later.
        """
        path = self.output_path(suffix, root, output_dir)
        if snapshot:
            product = exposure.host_copy()
        elif all(isinstance(a, np.ndarray) for a in exposure.arrays.values()):
            product = exposure
        else:
            product = _host_view(exposure)
        product.meta.filename = path.name
        self.products.append((product, path))
        return path

    def write_products(self, *, tag, protect=(), on_commit=None):
        """Hand this exposure's product set to :attr:`writer` (written and renamed into place as a whole).

        With a background writer this returns at once (after the previous set is
        in place); without a writer the set is written here. ``tag``,
        ``protect`` and ``on_commit`` as for
        :meth:`~gpucal.pipelines.writer.ProductWriter.submit`; the ``write`` and
        ``write_wait`` timings go to :attr:`timings`.
        """
        from gpucal.pipelines.writer import ProductWriter

        def committed(paths):
            self.written.extend(paths)
            if on_commit is not None:
                on_commit(paths)

        products, self.products = self.products, []
        if self.writer is not None:
            self.writer.submit(products, tag=tag, protect=protect, timings=self.timings, on_commit=committed)
            return
        with ProductWriter(background=False) as writer:
            writer.submit(products, tag=tag, protect=protect, timings=self.timings, on_commit=committed)

    def save(self, exposure, step, *, snapshot=False):
        """Add a step's result to the product set under its suffix (``save_results``)."""
        return self.add_product(
            exposure, step.suffix or step.alias, root=step.output_file, output_dir=step.output_dir, snapshot=snapshot
        )


def _host_view(exposure):
    """The exposure with its arrays moved to the host, sharing its meta (a product no step changes again)."""
    from gpucal.engine import to_host

    return Exposure(
        to_host(exposure.arrays), exposure.meta_tree, model_type=exposure.model_type, extra_fits=exposure.extra_fits,
        tables=exposure.tables, history=exposure.history, path=exposure.path,
    )  # fmt: skip
