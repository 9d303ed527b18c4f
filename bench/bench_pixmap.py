"""Benchmark: gpucal's compiled pixel map vs stcal's ``calc_pixmap`` (jwst resample).

Maps every pixel of a 2048x2048 NIRCam detector (the flight gwcs in
``shared/data/real/nrcb1-wcs.asdf``: distortion, velocity aberration, V2V3 to
sky) onto a jwst-style TAN output grid (gwcs ``FITSImagingWCSTransform``,
same pixel scale, covering the detector), optionally after a tweakreg
correction (``--tweak``, the ``v2v3corr`` frame tweakwcs inserts, as every
image3 input has) or in reverse (``--reverse``, grid -> detector). Times gpucal's exact
map (CPU, or ``--device cuda``) against stcal's ``calc_pixmap`` at stepsize 1
and 4 on the same WCS pair, and reports how far each map is from stcal's
exact one.

Example::

    python bench/bench_pixmap.py --repeat 5 --tweak
"""

import argparse
import datetime
import os
import pathlib
import platform
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_WCS = ROOT.parent / "shared" / "data" / "real" / "nrcb1-wcs.asdf"


def _best(fn, repeat, sync=lambda: None):
    """Best wall time of ``repeat`` calls, the process CPU time of that call, and the last result."""
    best = (float("inf"), 0.0)
    result = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        sync()
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    return best, result


def _output_grid(wcs_in, shape):
    """jwst-like output WCS: TAN at the detector centre, input pixel scale, V3 roll, covering the detector."""
    from astropy import coordinates as coord
    from astropy import units as u
    from astropy.modeling.models import Pix2Sky_TAN
    from gwcs import WCS, FITSImagingWCSTransform
    from gwcs import coordinate_frames as cf

    ny, nx = shape
    ra0, dec0 = wcs_in(nx / 2.0, ny / 2.0)
    ra1, dec1 = wcs_in(nx / 2.0 + 1.0, ny / 2.0)
    c0 = coord.SkyCoord(ra0, dec0, unit="deg")
    scale = c0.separation(coord.SkyCoord(ra1, dec1, unit="deg")).deg
    angle = np.deg2rad(c0.position_angle(coord.SkyCoord(*wcs_in(nx / 2.0, ny / 2.0 + 1.0), unit="deg")).deg)
    pc = np.array([[-np.cos(angle), np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tmp = FITSImagingWCSTransform(Pix2Sky_TAN(), crpix=[0.0, 0.0], crval=[ra0, dec0], cdelt=[scale, scale], pc=pc)
    corners = np.array([[-0.5, -0.5], [nx - 0.5, -0.5], [nx - 0.5, ny - 0.5], [-0.5, ny - 0.5]])
    cx, cy = tmp.inverse(*wcs_in(corners[:, 0], corners[:, 1]))
    crpix = [-cx.min() + 1.0, -cy.min() + 1.0]
    out_shape = (int(np.ceil(cy.max() - cy.min() + 3)), int(np.ceil(cx.max() - cx.min() + 3)))
    transform = FITSImagingWCSTransform(Pix2Sky_TAN(), crpix=crpix, crval=[ra0, dec0], cdelt=[scale, scale], pc=pc)
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world")
    grid = WCS([(detector, transform), (world, None)])
    grid.bounding_box = ((-0.5, out_shape[1] - 0.5), (-0.5, out_shape[0] - 0.5))
    grid.pixel_shape = out_shape[::-1]
    return grid, out_shape


def _tweaked(wcs):
    from tweakwcs.correctors import JWSTWCSCorrector

    v2, v3 = wcs.get_transform("detector", "v2v3")(1023.5, 1023.5)
    ra, dec = wcs(1023.5, 1023.5)
    info = {"v2_ref": float(v2), "v3_ref": float(v3), "roll_ref": 144.8, "ra_ref": float(ra), "dec_ref": float(dec)}
    corrector = JWSTWCSCorrector(wcs, info)
    corrector.set_correction(matrix=[[1.00002, 3e-5], [-3e-5, 0.99998]], shift=[0.05, -0.03])
    return corrector.wcs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wcs", default=str(DEFAULT_WCS), help="ASDF file with a gwcs under tree key 'wcs'")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (best is reported)")
    parser.add_argument("--stcal-repeat", type=int, default=3, help="timed repetitions of stcal's calc_pixmap")
    parser.add_argument("--tweak", action="store_true", help="apply a tweakreg (tweakwcs) correction to the input")
    parser.add_argument("--reverse", action="store_true", help="time the reverse map (output grid -> detector)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where gpucal evaluates the map")
    args = parser.parse_args(argv)

    import asdf
    import numba

    from gpucal.engine import select_device, synchronize
    from gpucal.wcs.compile import compile_pixmap

    with asdf.open(args.wcs, lazy_load=False, memmap=False) as af:
        wcs = af.tree["wcs"]
    shape = (2048, 2048)
    if args.tweak:
        wcs = _tweaked(wcs)
    grid, grid_shape = _output_grid(wcs, shape)
    wcs_from, wcs_to, shape_from = (grid, wcs, grid_shape) if args.reverse else (wcs, grid, shape)

    device = select_device(args.device, require_gpu=args.device == "cuda")
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"host: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numba {numba.__version__} threads {numba.config.NUMBA_NUM_THREADS}; gpucal device: {device}")  # fmt: skip
    source = ("tweakreg-corrected " if args.tweak else "") + pathlib.Path(args.wcs).name
    kind = "reverse map" if args.reverse else "map"
    print(f"{kind}: {shape_from[1]}x{shape_from[0]} pixels, input {source}, output grid {grid_shape}")

    t0 = time.perf_counter()
    plan = compile_pixmap(wcs_from, wcs_to, shape_from)
    first = plan.evaluate(device)
    synchronize(device)
    elapsed = time.perf_counter() - t0
    print(f"gpucal compile + first evaluation: {elapsed:.3f} s (exact={plan.exact}, key {plan.transform.key})")
    (t_gpucal, c_gpucal), pm = _best(lambda: plan.evaluate(device), args.repeat, lambda: synchronize(device))
    pm = pm.get() if hasattr(pm, "get") else pm
    del first
    print(f"gpucal exact map ({device}): {t_gpucal:.4f} s wall, {c_gpucal:.4f} s CPU (best of {args.repeat})")

    from stcal.resample.utils import calc_pixmap

    (t_s1, c_s1), ref = _best(lambda: calc_pixmap(wcs_from, wcs_to, shape_from, stepsize=1), args.stcal_repeat)
    print(f"stcal calc_pixmap stepsize=1: {t_s1:.4f} s wall, {c_s1:.4f} s CPU (best of {args.stcal_repeat})")
    (t_s4, c_s4), approx = _best(lambda: calc_pixmap(wcs_from, wcs_to, shape_from, stepsize=4), args.stcal_repeat)
    print(f"stcal calc_pixmap stepsize=4: {t_s4:.4f} s wall, {c_s4:.4f} s CPU (best of {args.stcal_repeat})")

    same_nan = np.array_equal(np.isnan(pm), np.isnan(ref))
    print(f"speed-up vs stepsize=1: {t_s1 / t_gpucal:.1f}x; vs stepsize=4: {t_s4 / t_gpucal:.1f}x")
    print(f"max |gpucal - stcal(step 1)|: {np.nanmax(np.abs(pm - ref)):.3g} pixel (NaN positions equal: {same_nan})")
    print(f"max |stcal(step 4) - stcal(step 1)|: {np.nanmax(np.abs(approx - ref)):.3g} pixel")


if __name__ == "__main__":
    main()
