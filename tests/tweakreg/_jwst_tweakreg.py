"""Run jwst 3.0's TweakRegStep offline on an image3 association; dump what the comparison needs (subprocess script).

Usage: ``python _jwst_tweakreg.py <request.json>``; the request gives ``asn`` (path), ``params`` (step parameters),
``grid`` (list of [x, y] detector points) and ``output`` (JSON written: per exposure the filename, S_TWKREG, S_REGION,
wcsinfo, the frames of the gwcs and RA/Dec at the grid points). It imports nothing from the ``tests`` package.
"""

import json
import os
import pathlib
import sys


def main(request_path):
    request = json.loads(pathlib.Path(request_path).read_text())
    import numpy as np
    from jwst.datamodels import ModelLibrary
    from jwst.tweakreg import TweakRegStep

    asn = pathlib.Path(request["asn"])
    os.chdir(asn.parent)
    step = TweakRegStep(**request["params"])
    if request.get("output_dir"):
        step.output_dir = request["output_dir"]
    result = step.run(ModelLibrary(asn.name, on_disk=False))
    grid = np.asarray(request["grid"], dtype=float)
    records = []
    with result:
        for index, model in enumerate(result):
            ra, dec = model.meta.wcs(grid[:, 0], grid[:, 1])
            wcsinfo = {k: v for k, v in model.meta.wcsinfo.instance.items() if isinstance(v, (int, float, str))}
            records.append(
                {
                    "filename": model.meta.filename,
                    "s_twkreg": model.meta.cal_step.tweakreg,
                    "s_region": model.meta.wcsinfo.s_region,
                    "wcsinfo": wcsinfo,
                    "frames": list(model.meta.wcs.available_frames),
                    "wcs_name": model.meta.wcs.name,
                    "tweakreg_catalog": model.meta.tweakreg_catalog,
                    "ra": np.asarray(ra).tolist(),
                    "dec": np.asarray(dec).tolist(),
                }
            )
            result.shelve(model, index, modify=False)
    pathlib.Path(request["output"]).write_text(json.dumps(records))


if __name__ == "__main__":
    main(sys.argv[1])
