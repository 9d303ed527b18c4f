"""The memory-flat outlier-detection driver: end to end, band invariance, jwst parity."""

import numpy as np
import pytest

from gpucal.engine import CPU, Device
from gpucal.errors import ParameterError
from gpucal.io.exposure import read_exposure
from gpucal.outlier import BandStore, OutlierParams, band_rows, detect_outliers
from gpucal.resample.grid import grid_from_exposures
from tests.outlier._data import Member, dithered_exposures


def _setup(tmp_path, **kwargs):
    paths, crs = dithered_exposures(tmp_path, **kwargs)
    grid = grid_from_exposures([read_exposure(p) for p in paths])
    return paths, crs, grid


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return _setup(tmp_path_factory.mktemp("outlier"))


def _run(paths, grid, tmp_path, params=None, device=CPU, **kwargs):
    members = [Member(p) for p in paths]
    results = detect_outliers(members, grid, params or OutlierParams(), device, workdir=tmp_path / "work", **kwargs)
    return members, results


def test_cosmic_rays_are_flagged_and_clean_pixels_are_not(dataset, tmp_path):
    paths, crs, grid = dataset
    stages = []
    members, results = _run(paths, grid, tmp_path, progress=lambda *a: stages.append(a))
    assert not results.skipped and results.storage == "disk" and results.median is None
    for member, cr in zip(members, crs, strict=True):
        flagged = {tuple(map(int, p)) for p in np.argwhere(member.stored.dq & 16)}
        assert set(cr) <= flagged
        near = {(y + dy, x + dx) for y, x in cr for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
        assert flagged <= near  # nothing away from a cosmic ray
        assert np.all(member.stored.dq[tuple(np.array(sorted(flagged)).T)] & 17 == 17)
        assert np.all(np.isnan(member.stored.data[member.stored.dq & 1 == 1]))  # NaNs and flags matched
        assert member.loads == 2
    assert results.n_flagged == sum(m.n_flagged for m in results.members) >= sum(map(len, crs))
    assert 0 < results.flagged_fraction < 0.01
    assert stages[-1] == ("flag", 4, 4) and ("singles", 4, 4) in stages and any(s[0] == "median" for s in stages)


def test_band_median_equals_whole_grid_median(dataset, tmp_path):
    paths, _, grid = dataset
    ny, nx = grid.shape
    runs = {}
    cases = (("whole", 4 * ny * nx * 8, True), ("one-row", 1, False), ("7-rows", 4 * nx * 8 * 7, False),
             ("default", None, True))  # fmt: skip
    for label, budget, in_memory in cases:
        p = OutlierParams(save_intermediate_results=True, in_memory=in_memory)
        members, results = _run(paths, grid, tmp_path / label, p, memory_budget=budget)
        runs[label] = (members, results)
    whole = runs["whole"][1]
    assert whole.storage == "memory" and whole.n_bands == 1
    assert runs["one-row"][1].band_rows == 1 and runs["7-rows"][1].band_rows == 7
    assert runs["default"][1].storage == "disk" and runs["default"][1].n_bands > 1
    for label, (members, results) in runs.items():
        np.testing.assert_array_equal(results.median, whole.median, err_msg=label)
        for a, b in zip(members, runs["whole"][0], strict=True):
            np.testing.assert_array_equal(a.stored.dq, b.stored.dq, err_msg=label)
    assert len(whole.singles) == 4 and all(s.sci_path.exists() for s in whole.singles)
    assert all(m.blot_path is not None and m.blot_path.exists() for m in whole.members)


def test_members_of_one_group_share_a_single(tmp_path):
    paths, _, grid = _setup(tmp_path, n=4, exposure_numbers=["00001", "00001", "00002", "00003"])
    members, results = _run(paths, grid, tmp_path)
    assert len(results.thresholds) == 3
    assert [m.group_id for m in results.members][:2] == [members[0].group_id] * 2


def test_fewer_than_two_inputs_is_skipped(dataset, tmp_path, caplog):
    paths, _, grid = dataset
    members, results = _run(paths[:1], grid, tmp_path)
    assert results.skipped and results.members == () and members[0].stored is None and members[0].loads == 0
    assert "will be skipped" in caplog.text


def test_parameters_are_validated(dataset, tmp_path):
    for kwargs, name in (({"snr": "5"}, "snr"), ({"scale": "a b"}, "scale"), ({"kernel": "gaussian"}, "kernel"),
                         ({"pixfrac": 1.5}, "pixfrac"), ({"weight_type": "x"}, "weight_type"),
                         ({"fillval": "x"}, "fillval"), ({"maskpt": float("nan")}, "maskpt")):  # fmt: skip
        with pytest.raises(ParameterError, match=name):
            OutlierParams(**kwargs)
    assert OutlierParams().snr_pair == (5.0, 4.0) and OutlierParams().scale_pair == (1.2, 0.7)
    paths, _, grid = dataset
    with pytest.raises(ParameterError, match="memory_budget"):
        _run(paths, grid, tmp_path, memory_budget=-5)
    with pytest.raises(ParameterError, match="params"):
        detect_outliers([Member(p) for p in paths], grid, {"maskpt": 0.7}, CPU, workdir=tmp_path)


def test_band_rows_and_store(tmp_path):
    assert band_rows((100, 50), 4) == 100 * 50 * 4 // (4 * 50 * 8)
    assert band_rows((10, 50), 4, 10**9) == 10
    store = BandStore((5, 3), 2, 2, folder=tmp_path)
    a = np.arange(15, dtype=np.float32).reshape(5, 3)
    store.append(a, a + 100)
    with pytest.raises(ParameterError, match="groups were appended"):
        store.band(0)
    store.append(a * 2, a)
    data, wht = store.band(2)
    np.testing.assert_array_equal(data, np.stack([a[4:5], 2 * a[4:5]]))
    np.testing.assert_array_equal(wht, np.stack([a[4:5] + 100, a[4:5]]))
    store.close()
    assert not list(tmp_path.iterdir())


def _jwst_flags(paths, params):
    from jwst.datamodels import ModelLibrary
    from jwst.outlier_detection.imaging import detect_outliers as jwst_detect

    library = ModelLibrary([str(p) for p in paths], on_disk=False)
    snr1, snr2 = params.snr_pair
    scale1, scale2 = params.scale_pair
    out = jwst_detect(library, False, params.good_bits, params.maskpt, snr1, snr2, scale1, scale2, params.backg,
                      params.resample_data, params.weight_type, params.pixfrac, params.kernel, params.fillval,
                      True, None)  # fmt: skip
    dqs = []
    with out:
        for i in range(len(out)):
            model = out.borrow(i)
            dqs.append(model.dq.copy())
            out.shelve(model, i, modify=False)
    return dqs


@pytest.mark.parametrize(
    ("label", "params", "background", "device"),
    [
        ("default", OutlierParams(), None, CPU),
        ("background-level", OutlierParams(), 0.5, CPU),
        ("point-exptime", OutlierParams(kernel="point", weight_type="exptime", pixfrac=0.8, maskpt=0.5), None, CPU),
        ("no-resampling", OutlierParams(resample_data=False), None, CPU),
        ("cuda-sim", OutlierParams(), None, Device("cuda", 0, simulated=True)),
    ],
)
def test_flags_match_jwst(tmp_path, label, params, background, device):
    pytest.importorskip("jwst")
    if device.is_cuda:
        from tests.conftest import REAL_GPU

        device = Device("cuda", 0, simulated=not REAL_GPU)
    paths, _, grid = _setup(tmp_path, background=background, seed=11)
    members, results = _run(paths, grid, tmp_path, params, device=device)
    theirs = _jwst_flags(paths, params)
    total = sum(int(np.count_nonzero(dq & 16)) for dq in theirs)
    assert total > 0, label
    differing = sum(int(np.count_nonzero((m.stored.dq ^ dq) != 0)) for m, dq in zip(members, theirs, strict=True))
    assert differing <= 0.001 * total, f"{label}: {differing} DQ values differ ({total} outliers in jwst)"
    for member, result, dq in zip(members, results.members, theirs, strict=True):
        assert result.n_flagged == int(np.count_nonzero(member.stored.dq & 16))  # inputs carry no OUTLIER bit
        np.testing.assert_array_equal(np.isnan(member.stored.data), (dq & 1) == 1)
