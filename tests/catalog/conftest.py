"""A small simulated mosaic (3 NIRCam exposures, 256 pixels) shared by the catalog tests."""

import pathlib

import pytest

from gpucal.io.asn import make_image3_asn, write_asn
from gpucal.pipelines.image2 import Image2Pipeline
from gpucal.pipelines.image3 import Image3Pipeline
from gpucal.sim import simulate

PRODUCT = "jw00001-o001_t001_nircam_clear-f200w"


@pytest.fixture(scope="session")
def catalog_set(tmp_path_factory):
    """``{"i2d", "asn", "references", "ref_dir"}``: the mosaic (no catalog), its image3 association and references."""
    root = tmp_path_factory.mktemp("catalog")
    sim = simulate(root / "sim", exposures=3, backgrounds=0, size=256, seed=5)
    ref_dir = str(pathlib.Path(sim.references["flat"]).parent)
    names = []
    for rate in sim.science:
        Image2Pipeline.call(str(rate), save_results=True, output_dir=str(root / "cal"), ref_dir=ref_dir,
                            steps={"resample": {"skip": True}}, device="cpu")  # fmt: skip
        names.append(rate.name.replace("_rate", "_cal"))
    asn = write_asn(make_image3_asn(PRODUCT, names, asn_id="o001"), root / "cal" / "image3_asn.json")
    Image3Pipeline.call(
        str(asn), device="cpu", save_results=True, output_dir=str(root / "i3"), steps={"source_catalog": {"skip": True}}
    )
    return {"i2d": root / "i3" / f"{PRODUCT}_i2d.fits", "asn": asn, "references": sim.references, "ref_dir": ref_dir}


@pytest.fixture(scope="session")
def mosaic(catalog_set):
    """``(i2d path, references dict, reference folder)``."""
    return catalog_set["i2d"], catalog_set["references"], catalog_set["ref_dir"]
