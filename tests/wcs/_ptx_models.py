"""Compile the CUDA kernels of transforms covering every op kind to PTX (sm_90), without a GPU.

Run as ``python -m tests.wcs._ptx_models`` with ``NUMBA_ENABLE_CUDASIM=0``
(see ``tests/kernels/_ptx_compile.py``, which does the same for the
registered kernels): the simulator would accept code NVVM rejects.
"""

import sys
import types

import numpy as np

__all__ = ["main", "zoo"]


def zoo():
    """Models whose compiled code, exact and simplified, uses every op kind and helper."""
    from astropy.modeling import models as m
    from gwcs import FITSImagingWCSTransform
    from gwcs.geometry import CartesianToSpherical, SphericalToCartesian

    poly = m.Mapping((0, 1, 0, 1)) | (m.Polynomial2D(3, c1_0=1.0) & m.Polynomial2D(3, c0_1=1.0))
    sky = (m.Scale(1 / 3600) & m.Scale(1 / 3600)) | SphericalToCartesian(wrap_lon_at=180)
    sky |= m.RotationSequence3D([0.1, -0.2, 30.0], "zyx") | CartesianToSpherical(wrap_lon_at=360)
    tan = FITSImagingWCSTransform(m.Pix2Sky_TAN(), crpix=[5.0, 5.0], crval=[30.0, -20.0], cdelt=[1e-5, 1e-5])
    return [
        poly | sky,
        poly | sky | tan.inverse,
        tan | tan.inverse,
        (m.Polynomial1D(3, c1=1.0) & m.Const1D(2.0)) | (m.Shift(1.0) * m.Scale(2.0) & m.Identity(1)),
        m.Rotation2D(12.0) | (m.Shift(1.0) / m.Scale(2.0) & m.Shift(1.0) ** m.Scale(0.5)),
        m.SphericalRotationSequence([1.0, 2.0], "zy") | m.EulerAngleRotation(1.0, 2.0, 3.0, "zxz"),
        m.RotateCelestial2Native(10.0, 20.0, 180.0) | m.Sky2Pix_TAN(),
    ]


def main():
    from numba import cuda
    from numba.cuda import dispatcher

    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
    from gpucal.wcs.compile import compile_transform

    failures = 0
    for k, model in enumerate(zoo()):
        for simplify in (False, True):
            compiled = compile_transform(model, simplify=simplify)
            kernels = compiled.gpu_kernels(*(np.zeros(3),) * compiled.n_inputs)
            if compiled.n_inputs == 2:
                kernels += compiled.grid_gpu_kernels((3, 4))
            for fn, argtypes in kernels:
                label = f"model {k} simplify={simplify} {fn.__name__}"
                try:
                    ptx, _ = cuda.compile_ptx(fn, argtypes, cc=(9, 0))
                    print(f"ok   {label}: {len(ptx)} bytes of PTX")
                except Exception as exc:
                    failures += 1
                    print(f"FAIL {label}: {exc.__class__.__name__}: {exc}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
