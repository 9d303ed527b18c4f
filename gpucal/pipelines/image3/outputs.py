"""image3's outputs, checked before any computation.

No product of the run may replace one of its input files (an image3 run over
its own ``_crf`` files with the same association id in the same folder would
write each ``_crf`` over its input), and temporaries that a killed run over the
same products left (its scratch folder) are removed.
"""

import logging
import pathlib

from gpucal.io.atomic import refuse_overwriting_inputs, remove_stale_temporaries

__all__ = ["output_paths", "prepare_outputs", "scratch_tag"]

log = logging.getLogger("gpucal")


def scratch_tag(product_name):
    """The tag of an image3 run's scratch folder (``.gpucal-image3-<product>-XXXXXXXX``)."""
    return f"image3-{product_name}"


def output_paths(library, name, output_dir, catalog_step):
    """The products an image3 run may write: the mosaic, its catalog and segmentation map, every ``_crf``.

    The ``save_intermediate_results`` files are known only after outlier
    detection; the commit refuses those that would replace an input.
    """
    folder = pathlib.Path(output_dir)
    paths = [folder / f"{name}_i2d.fits", folder / f"{name}_{catalog_step.suffix or 'cat'}.ecsv"]
    paths.append(folder / f"{name}_segm.fits")
    paths += [library.crf_path(member, folder) for member in library]
    return paths


def prepare_outputs(library, name, output_dir, catalog_step):
    """Refuse outputs that would replace an input; remove stale temporaries of these products.

    Call before ``library.product_name`` is changed to ``name``: the scratch
    folder was named after the library's own product name.
    """
    paths = output_paths(library, name, output_dir, catalog_step)
    refuse_overwriting_inputs(paths, {member.source: "an input exposure" for member in library})
    tags = {scratch_tag(library.product_name)}
    for path in remove_stale_temporaries(output_dir, {p.name for p in paths}, tags):
        log.warning("removed %s, left by an interrupted run", path)
