"""CRDS-format reference files: reading, and selecting them for an exposure.

* :mod:`.readers` reads the reference types imaging calibration uses (flat,
  photom, area, distortion, filteroffset) as delivered by CRDS.
* :mod:`.match` checks a reference against a science exposure as CRDS's
  rmaps would (REFTYPE, INSTRUME and the type's selector keywords).
* :mod:`.select` chooses the file for a reftype and an exposure: an explicit
  override (``override_flat`` ...), else a local reference folder indexed by
  gpucal, else a CRDS cache (``CRDS_PATH``) through the crds client in offline
  mode. It never touches the network and never exits the process.
"""

from gpucal.io.refs.match import exposure_keywords, match_reference, reference_keywords
from gpucal.io.refs.readers import (
    AbvegaOffsetRef,
    ApcorrRef,
    AreaRef,
    DistortionRef,
    FilterOffsetRef,
    FlatRef,
    PhotomRef,
    read_abvegaoffset,
    read_apcorr,
    read_area,
    read_distortion,
    read_filteroffset,
    read_flat,
    read_photom,
    read_reference,
)
from gpucal.io.refs.select import (
    ReferenceSelector,
    build_index,
    check_reference,
    reference_folder,
    selection_keywords,
)

__all__ = [
    "AbvegaOffsetRef",
    "ApcorrRef",
    "AreaRef",
    "DistortionRef",
    "FilterOffsetRef",
    "FlatRef",
    "PhotomRef",
    "ReferenceSelector",
    "build_index",
    "check_reference",
    "exposure_keywords",
    "match_reference",
    "read_abvegaoffset",
    "read_apcorr",
    "read_area",
    "read_distortion",
    "read_filteroffset",
    "read_flat",
    "read_photom",
    "read_reference",
    "reference_folder",
    "reference_keywords",
    "selection_keywords",
]
