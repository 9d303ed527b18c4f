"""Each model type the transform compiler supports, forward and inverse, vs astropy itself.

Random parameters and inputs (seeded); both the exact astropy operation
order (``simplify=False``) and the simplified code must match astropy's
evaluation to rounding, NaN for NaN.
"""

import numpy as np
import pytest
from astropy.modeling import models as m
from gwcs.geometry import CartesianToSpherical, SphericalToCartesian

from gpucal.errors import ParameterError
from gpucal.wcs.compile import compile_transform

RTOL = 1e-12


def _assert_matches(got, expected, atol):
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        e = np.broadcast_to(np.asarray(e, dtype=np.float64), np.shape(g))
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e), err_msg="NaN positions")
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=atol, equal_nan=True)


def _check(model, inputs, *, atol=1e-12, inverse=True, inverse_inputs=None, inverse_atol=None):
    """Compile ``model`` (and its inverse) both ways and compare with astropy on ``inputs``."""
    expected = model(*inputs)
    for simplify in (False, True):
        _assert_matches(compile_transform(model, simplify=simplify).cpu(*inputs), expected, atol)
    if inverse:
        inv_in = inputs if inverse_inputs is None else inverse_inputs
        inv_expected = model.inverse(*inv_in)
        for simplify in (False, True):
            got = compile_transform(model, direction="backward", simplify=simplify).cpu(*inv_in)
            _assert_matches(got, inv_expected, atol if inverse_atol is None else inverse_atol)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _xy(rng, n=300, scale=1000.0):
    return rng.uniform(-scale, scale, n), rng.uniform(-scale, scale, n)


def test_shift_scale_multiply_identity_mapping(rng):
    x, y = _xy(rng)
    for _ in range(3):
        a, b, c = rng.normal(0, 100, 3)
        _check(m.Shift(a) & m.Scale(b), (x, y))
        _check(m.Multiply(c) & m.Identity(1), (x, y))
        _check(m.Mapping((1, 0)) | (m.Shift(a) & m.Scale(b)), (x, y))
        wired = m.Mapping((0, 1, 0, 1)) | (m.Shift(a) & m.Scale(b) & m.Identity(2)) | m.Mapping((3, 0))
        _check(wired, (x, y), inverse=False)


def test_const1d(rng):
    x, _ = _xy(rng)
    _check(m.Const1D(rng.normal()), (x,), inverse=False)
    _check(m.Shift(2.0) | m.Const1D(rng.normal()), (x,), inverse=False)


@pytest.mark.parametrize("degree", range(0, 6))
def test_polynomial1d(rng, degree):
    coeffs = {f"c{k}": rng.normal(0, 10.0 ** -(2 * k)) for k in range(degree + 1)}
    x, _ = _xy(rng)
    _check(m.Polynomial1D(degree, **coeffs), (x,), atol=1e-10, inverse=False)
    _check(m.Polynomial1D(degree, domain=(-3, 7), window=(0, 2), **coeffs), (x / 500,), atol=1e-10, inverse=False)


@pytest.mark.parametrize("degree", range(0, 6))
def test_polynomial2d_with_user_inverse(rng, degree):
    def poly():
        p = m.Polynomial2D(degree)
        for name in p.param_names:
            i, j = (int(v) for v in name[1:].split("_"))
            setattr(p, name, rng.normal(0, 10.0 ** -(2 * (i + j))))
        return p

    x, y = _xy(rng)
    forward = m.Mapping((0, 1, 0, 1)) | (poly() & poly())
    forward.inverse = m.Mapping((0, 1, 0, 1)) | (poly() & poly())  # as a CRDS distortion reference does
    _check(forward, (x, y), atol=1e-9)


def test_affine_and_rotation2d(rng):
    x, y = _xy(rng)
    for _ in range(3):
        affine = m.AffineTransformation2D(matrix=rng.normal(0, 1, (2, 2)), translation=rng.normal(0, 50, 2))
        _check(affine, (x, y), atol=1e-9)
        _check(m.Rotation2D(rng.uniform(-360, 360)), (x, y), atol=1e-9)


def _unit_vectors(rng, n=300):
    v = rng.normal(size=(3, n))
    v /= np.linalg.norm(v, axis=0)
    v[:, :3] = [[0, 0, 1e-3], [0, 0, -1e-3], [1, -1, 0.0]]  # on the z axis, and h == 0 with a signed zero
    return tuple(v)


def test_rotation_sequence3d(rng):
    for axes in ("zyx", "zyxyz", "xzy"):
        model = m.RotationSequence3D(rng.uniform(-180, 180, len(axes)), axes)
        _check(model, _unit_vectors(rng))


def _lonlat(rng, n=300):
    lon = rng.uniform(-180, 360, n)
    lat = rng.uniform(-90, 90, n)
    lon[:6] = [0.0, 90.0, -90.0, 180.0, 360.0, 270.0]
    lat[:6] = [90.0, -90.0, 0.0, 45.0, 0.0, -45.0]
    return lon, lat


@pytest.mark.parametrize("wrap", [180, 360])
def test_spherical_cartesian(rng, wrap):
    _check(SphericalToCartesian(wrap_lon_at=wrap), _lonlat(rng), inverse=False)
    _check(CartesianToSpherical(wrap_lon_at=wrap), _unit_vectors(rng), atol=1e-11, inverse=False)
    _check(SphericalToCartesian(wrap_lon_at=wrap), _lonlat(rng), atol=1e-11, inverse_inputs=_unit_vectors(rng))


def test_tan_projection(rng):
    x, y = rng.uniform(-40, 40, 300), rng.uniform(-40, 40, 300)
    x[:3], y[:3] = [0.0, 0.0, 5.0], [0.0, -3.0, 0.0]
    phi, theta = rng.uniform(-180, 360, 300), rng.uniform(-30, 90, 300)
    phi[:5], theta[:5] = [0.0, 90.0, 180.0, 12.0, -90.0], [90.0, 0.0, -10.0, 45.0, 60.0]  # theta <= 0 -> NaN
    _check(m.Pix2Sky_TAN(), (x, y), atol=1e-11, inverse_inputs=(phi, theta))
    _check(m.Sky2Pix_TAN(), (phi, theta), atol=1e-10, inverse_inputs=(x, y))


@pytest.mark.parametrize("cls", [m.RotateNative2Celestial, m.RotateCelestial2Native])
def test_sky_rotations(rng, cls):
    for _ in range(3):
        model = cls(rng.uniform(0, 360), rng.uniform(-89, 89), rng.choice([0.0, 180.0, rng.uniform(0, 360)]))
        _check(model, _lonlat(rng), atol=1e-10)


def test_spherical_rotation_sequence_and_euler(rng):
    _check(m.SphericalRotationSequence(rng.uniform(-90, 90, 3), "zyx"), _lonlat(rng), atol=1e-10)
    _check(m.EulerAngleRotation(*rng.uniform(-90, 90, 3), "zxz"), _lonlat(rng), atol=1e-10)


def test_arithmetic_operators(rng):
    x = rng.uniform(0.5, 3.0, 200)
    a, b = m.Shift(rng.uniform(0, 1)), m.Scale(rng.uniform(0.5, 2))
    for model in (a + b, a - b, a * b, a / b, a**b, (a & b) | m.Mapping((0, 1, 1)) | (m.Identity(1) & (b + a) & b)):
        n_in = model.n_inputs
        _check(model, (x,) * n_in, inverse=False)


def test_fits_imaging_transform(rng):
    from gwcs import FITSImagingWCSTransform

    pc = m.Rotation2D._compute_matrix(np.deg2rad(rng.uniform(0, 360)))
    model = FITSImagingWCSTransform(m.Pix2Sky_TAN(), crpix=[1024.3, 1000.2], crval=[rng.uniform(0, 360), -30.0],
                                    cdelt=[1e-5, 1e-5], pc=pc)  # fmt: skip
    x, y = _xy(rng, scale=2000.0)
    ra, dec = model(x, y)
    # sky -> pixel magnifies rounding: one ulp of a right ascension near 300 deg is 6e-9 pixel here
    _check(model, (x, y), atol=1e-11, inverse_inputs=(ra, dec), inverse_atol=5e-8)


def test_user_inverse_is_used(rng):
    model = m.Shift(3.0) & m.Shift(-2.0)
    model.inverse = m.Scale(2.0) & m.Scale(0.5)  # deliberately not the analytic inverse
    x, y = _xy(rng)
    np.testing.assert_array_equal(compile_transform(model, direction="backward").cpu(x, y), (2 * x, 0.5 * y))


def test_bounding_box_when_requested(rng):
    model = m.Shift(1.0) & m.Shift(2.0)
    model.bounding_box = ((-1.0, 5.0), (0.0, 3.0))
    x = np.array([-1.0, 5.0, 5.5, 2.0, np.nan])
    y = np.array([0.0, 3.0, 1.0, -0.1, 1.0])
    got = compile_transform(model, with_bounding_box=True).cpu(x, y)
    expected = model(x, y, with_bounding_box=True)
    _assert_matches(got, expected, 0.0)
    _assert_matches(compile_transform(model).cpu(x, y), model(x, y), 0.0)


def test_unsupported_model_raises_without_domain():
    with pytest.raises(ParameterError, match="Legendre2D"):
        compile_transform(m.Legendre2D(1, 1))


def test_cuda_form_matches_cpu(rng):
    model = m.Mapping((0, 1, 0, 1)) | (m.Polynomial2D(2, c1_0=1.0, c2_0=1e-4) & m.Polynomial2D(2, c0_1=1.0, c1_1=2e-4))
    model |= (m.Scale(1 / 3600) & m.Scale(1 / 3600)) | SphericalToCartesian(wrap_lon_at=180)
    model |= m.RotationSequence3D([0.01, -0.1, 30.0, -20.0, -80.0], "zyxyz") | CartesianToSpherical(wrap_lon_at=360)
    x, y = _xy(rng, n=40)
    compiled = compile_transform(model)
    cpu = compiled.cpu(x, y)
    gpu = compiled.gpu(x, y)
    for g, c in zip(gpu, cpu, strict=True):
        np.testing.assert_allclose(np.asarray(g), c, rtol=1e-13, atol=1e-12)


def test_structure_not_values_decides_the_kernel(rng):
    def layout(a, b):
        return (m.Shift(a) & m.Shift(b)) | m.Rotation2D(a) | m.Pix2Sky_TAN() | m.RotateNative2Celestial(a, b, 180.0)

    first, second = compile_transform(layout(1.0, 2.0)), compile_transform(layout(30.0, -40.0))
    assert first.key == second.key and first.source == second.source
    assert not np.array_equal(first.params, second.params)
    other = compile_transform((m.Shift(1.0) & m.Shift(2.0)) | m.Pix2Sky_TAN() | m.RotateNative2Celestial(1.0, 2.0, 0.0))
    assert other.key != first.key


def test_compiled_code_is_all_float64():
    import numba

    polys = m.Polynomial2D(3, c1_0=1.0) & m.Polynomial2D(3, c0_1=1.0)
    model = (m.Shift(1.0) & m.Shift(2.0)) | m.Mapping((0, 1, 0, 1)) | polys
    model |= (m.Scale(1e-3) & m.Scale(1e-3)) | m.Pix2Sky_TAN() | m.RotateNative2Celestial(10.0, 20.0, 180.0)
    for simplify in (False, True):
        compiled = compile_transform(model, simplify=simplify)
        fresh = numba.njit(error_model="numpy")(compiled.module("cpu").transform_py)  # uncached: inspectable
        fresh(1.0, 2.0, compiled.params)
        (signature,) = fresh.signatures
        typemap = fresh.overloads[signature].type_annotation.typemap
        scalars = {name: str(t) for name, t in typemap.items() if not name.startswith(("$", "arg.", "p"))}
        numbers = {name: t for name, t in scalars.items() if t != "bool"}  # bounding-box and select flags
        assert numbers and all(t == "float64" for t in numbers.values()), numbers
        assert fresh.overloads[signature].signature.return_type == numba.types.UniTuple(numba.float64, 2)
