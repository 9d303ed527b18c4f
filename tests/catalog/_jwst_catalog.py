"""Run jwst 3.0's SourceCatalogStep offline on one _i2d (``python _jwst_catalog.py i2d apcorr abvega outdir``).

Imported by the tests for :func:`run_jwst_catalog`, which runs this file in a
subprocess with a throw-away CRDS configuration (tests/jwst_offline.py).
"""

import os
import pathlib
import subprocess
import sys


def run_jwst_catalog(i2d, apcorr, abvegaoffset, outdir, workdir, timeout=600):
    """Run jwst's step in a subprocess; returns ``(returncode, log)``."""
    from tests.jwst_offline import crds_environment

    env = {**os.environ, **crds_environment(workdir)}
    cmd = [sys.executable, __file__, str(i2d), str(apcorr), str(abvegaoffset), str(outdir)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _main(i2d, apcorr, abvegaoffset, outdir):
    import logging

    from jwst.source_catalog import SourceCatalogStep

    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    pathlib.Path(outdir).mkdir(parents=True, exist_ok=True)
    SourceCatalogStep.call(i2d, override_apcorr=apcorr, override_abvegaoffset=abvegaoffset, save_results=True,
                           output_dir=outdir)  # fmt: skip


if __name__ == "__main__":
    _main(*sys.argv[1:5])
