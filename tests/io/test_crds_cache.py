"""Reference selection from a local CRDS cache through the crds client, offline.

A minimal but valid CRDS cache (server configuration, pmap -> imap -> rmap
with checksums, one reference) is built in a temporary folder; lookups run in
a subprocess so the crds client's process-wide caches and environment do not
leak into other tests.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytest.importorskip("crds")

_PMAP = """header = {{
    'derived_from' : 'gpucal test',
    'mapping' : 'PIPELINE',
    'name' : 'jwst_0001.pmap',
    'observatory' : 'JWST',
    'parkey' : ('META.INSTRUMENT.NAME',),
    'sha1sum' : 'x',
}}

selector = {{
    'nircam' : 'jwst_nircam_0001.imap',
}}
"""
_IMAP = """header = {{
    'derived_from' : 'gpucal test',
    'instrument' : 'NIRCAM',
    'mapping' : 'INSTRUMENT',
    'name' : 'jwst_nircam_0001.imap',
    'observatory' : 'JWST',
    'parkey' : ('REFTYPE',),
    'sha1sum' : 'x',
}}

selector = {{
    'flat' : 'jwst_nircam_flat_0001.rmap',
}}
"""
_RMAP = """header = {{
    'derived_from' : 'gpucal test',
    'filekind' : 'FLAT',
    'instrument' : 'NIRCAM',
    'mapping' : 'REFERENCE',
    'name' : 'jwst_nircam_flat_0001.rmap',
    'observatory' : 'JWST',
    'parkey' : (('META.INSTRUMENT.DETECTOR', 'META.INSTRUMENT.FILTER', 'META.INSTRUMENT.PUPIL',
                 'META.EXPOSURE.TYPE'), ('META.OBSERVATION.DATE', 'META.OBSERVATION.TIME')),
    'sha1sum' : 'x',
}}

selector = Match({{
    ('NRCA1', 'F200W', 'CLEAR', 'NRC_IMAGE') : UseAfter({{
        '2014-01-01 00:00:00' : 'jwst_nircam_flat_0001.fits',
    }}),
}})
"""

_LOOKUP = """
import json, sys
from gpucal.io.meta import meta_node
from gpucal.io.refs import ReferenceSelector
from tests.factories import nircam_meta
out = {}
for label, overrides in (("match", {}), ("other_filter", {"instrument.filter": "F444W"})):
    try:
        out[label] = ReferenceSelector(use_crds=True).select("flat", meta_node(nircam_meta(**overrides)))
    except Exception as exc:
        out[label] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


@pytest.fixture
def crds_cache(tmp_path):
    from crds.refactoring.checksum import update_checksum

    root = tmp_path / "crds"
    mappings = root / "mappings" / "jwst"
    mappings.mkdir(parents=True)
    (root / "references" / "jwst" / "nircam").mkdir(parents=True)
    (root / "config" / "jwst").mkdir(parents=True)
    config = {"observatory": "jwst", "operational_context": "jwst_0001.pmap", "edit_context": "jwst_0001.pmap",
              "force_remote_mode": False, "last_synced": "2026-01-01", "download_metadata": "",
              "bad_files_list": [], "mappings": []}  # fmt: skip
    (root / "config" / "jwst" / "server_config").write_text(repr(config))
    for name, text in (
        ("jwst_0001.pmap", _PMAP),
        ("jwst_nircam_0001.imap", _IMAP),
        ("jwst_nircam_flat_0001.rmap", _RMAP),
    ):
        (mappings / name).write_text(text.format())
        update_checksum(str(mappings / name))
    reference = root / "references" / "jwst" / "nircam" / "jwst_nircam_flat_0001.fits"
    reference.write_bytes(b"")
    return root, reference


def test_flat_from_a_crds_cache_offline(crds_cache):
    root, reference = crds_cache
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(CRDS_PATH=str(root), CRDS_CONTEXT="jwst_0001.pmap", CRDS_OBSERVATORY="jwst", GPUCAL_REF_DIR="")
    done = subprocess.run(
        [sys.executable, "-c", _LOOKUP], env=env, capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["match"] == str(reference)
    assert result["other_filter"].startswith("ReferenceFileError") and "F444W" in result["other_filter"]
