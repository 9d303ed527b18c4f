"""Read/write a full-frame JWST product: gpucal vs astropy, against the raw-bytes floor.

Usage::

    python bench/bench_io.py [--size 2048] [--repeat 5] [--folder /tmp]

The floor is reading/writing the same number of bytes with plain file I/O
(no FITS, no byte swapping). gpucal should cost little more than that;
astropy's ``fits.open`` (data loaded and converted to native byte order, as a
pipeline must) and ``HDUList.writeto`` of the same arrays are shown beside it.
The folder should be the same disk the pipeline uses (page cache warm).
"""

import argparse
import os
import pathlib
import sys
import tempfile

import numpy as np

sys.path[:0] = [str(pathlib.Path(__file__).parent), str(pathlib.Path(__file__).resolve().parents[1])]
from _helpers import best_of, header, make_cal_like  # noqa: E402 - after the path set-up above


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--folder", default=tempfile.gettempdir())
    args = parser.parse_args()
    header("I/O of a full-frame _cal product")

    from astropy.io import fits

    from gpucal.io.exposure import EXTENSION_NAMES, Exposure, read_exposure, write_exposure
    from tests.factories import nircam_meta, simple_wcs

    folder = pathlib.Path(tempfile.mkdtemp(dir=args.folder))
    arrays = make_cal_like((args.size, args.size))
    nbytes = sum(a.nbytes for a in arrays.values())
    exposure = Exposure(arrays, nircam_meta())
    exposure.meta.wcs = simple_wcs((args.size, args.size))
    ours = folder / "gpucal_cal.fits"
    theirs = folder / "astropy_cal.fits"
    raw = folder / "raw.bin"

    def write_raw():
        with open(raw, "wb") as fh:
            for a in arrays.values():
                fh.write(memoryview(a).cast("B"))
            fh.flush()

    def read_raw():
        with open(raw, "rb") as fh:
            for a in arrays.values():
                buf = np.empty_like(a)
                fh.readinto(memoryview(buf).cast("B"))

    def write_astropy():
        hdus = [fits.PrimaryHDU()] + [fits.ImageHDU(a, name=EXTENSION_NAMES[k]) for k, a in arrays.items()]
        fits.HDUList(hdus).writeto(theirs, overwrite=True)

    def read_astropy():
        with fits.open(theirs) as hdul:
            for hdu in hdul[1:]:
                np.asarray(hdu.data, dtype=hdu.data.dtype.newbyteorder("="))

    def fresh(path):
        """Remove the previous output: a farm writes new files (replacing one costs its deletion)."""

        def setup():
            if path.exists():
                path.unlink()

        return setup

    rows = [
        ("raw bytes (floor)", best_of(write_raw, args.repeat, setup=fresh(raw)), best_of(read_raw, args.repeat)),
        (
            "gpucal",
            best_of(lambda: write_exposure(exposure, ours), args.repeat, setup=fresh(ours)),
            best_of(lambda: read_exposure(ours), args.repeat),
        ),
        (
            "astropy.io.fits",
            best_of(write_astropy, args.repeat, setup=fresh(theirs)),
            best_of(read_astropy, args.repeat),
        ),
    ]
    try:
        from stdatamodels.jwst import datamodels

        model = datamodels.open(ours)
        theirs_dm = folder / "stdatamodels_cal.fits"

        def read_dm():
            with datamodels.open(ours) as m:
                for name in ("data", "err", "dq", "area", "var_poisson", "var_rnoise", "var_flat"):
                    array = getattr(m, name)
                    np.asarray(array, dtype=array.dtype.newbyteorder("="))

        write_dm = best_of(lambda: model.save(theirs_dm), args.repeat, setup=fresh(theirs_dm))
        rows.append(("stdatamodels (jwst)", write_dm, best_of(read_dm, args.repeat)))
    except ImportError:
        pass
    print(
        f"# {len(arrays)} arrays of {args.size}x{args.size}, {nbytes / 1e6:.1f} MB; "
        f"file {os.path.getsize(ours) / 1e6:.1f} MB; best of {args.repeat}"
    )
    print(f"{'':20s} {'write s':>9s} {'MB/s':>8s} {'read s':>9s} {'MB/s':>8s}")
    for name, w, r in rows:
        print(f"{name:20s} {w:9.3f} {nbytes / w / 1e6:8.0f} {r:9.3f} {nbytes / r / 1e6:8.0f}")
    floor_w, floor_r = rows[0][1], rows[0][2]
    print(f"# gpucal / floor: write {rows[1][1] / floor_w:.2f}x, read {rows[1][2] / floor_r:.2f}x;"
          f" astropy / gpucal: write {rows[2][1] / rows[1][1]:.2f}x, read {rows[2][2] / rows[1][2]:.2f}x")  # fmt: skip
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
