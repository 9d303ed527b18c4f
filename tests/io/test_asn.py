"""Association files."""

import json

import pytest

from gpucal.errors import AssociationError
from gpucal.io.asn import make_image2_asn, make_image3_asn, read_asn, write_asn


def test_round_trip_and_relative_paths(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("sci_rate.fits", "bg1_rate.fits"):
        (folder / name).write_bytes(b"")
    path = write_asn(
        make_image2_asn("sci_rate.fits", backgrounds=["bg1_rate.fits"], asn_id="o007"), folder / "x_asn.json"
    )
    monkeypatch.chdir(tmp_path)  # members resolve against the ASN folder, not the working directory
    asn = read_asn(path)
    assert asn.asn_type == "image2" and asn.asn_id == "o007"
    product = asn.products[0]
    assert product.name == "sci"
    assert [m.path for m in product.members_of("science")] == [(folder / "sci_rate.fits").resolve()]
    assert [m.expname for m in product.members_of("background")] == ["bg1_rate.fits"]


def test_image3(tmp_path):
    for name in ("a_cal.fits", "b_cal.fits"):
        (tmp_path / name).write_bytes(b"")
    asn = read_asn(
        write_asn(
            make_image3_asn("jw01345-o001_t001_nircam_clear-f200w", ["a_cal.fits", "b_cal.fits"]),
            tmp_path / "i3_asn.json",
        )
    )
    assert asn.asn_type == "image3"
    assert len(asn.products[0].members_of("science")) == 2


def test_bad_json(tmp_path):
    path = tmp_path / "bad_asn.json"
    path.write_text('{"asn_type": "image2", "products": [')
    with pytest.raises(AssociationError, match="not valid JSON") as info:
        read_asn(path)
    assert str(path) in str(info.value)


def test_missing_member(tmp_path):
    path = tmp_path / "m_asn.json"
    path.write_text(
        json.dumps(
            {
                "asn_type": "image2",
                "asn_id": "o001",
                "products": [{"name": "x", "members": [{"expname": "gone_rate.fits", "exptype": "science"}]}],
            }
        )
    )
    with pytest.raises(AssociationError, match=r"member 'gone_rate\.fits' not found"):
        read_asn(path)


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"products": []},
        {"asn_type": "image2"},
        {"asn_type": "image2", "products": [{"name": "x"}]},
        {"asn_type": "image2", "products": [{"members": [{"exptype": "science"}]}]},
    ],
)
def test_malformed(tmp_path, doc):
    path = tmp_path / "bad_asn.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(AssociationError):
        read_asn(path)


def test_missing_file(tmp_path):
    with pytest.raises(AssociationError, match="no such association"):
        read_asn(tmp_path / "none_asn.json")


@pytest.mark.parametrize("name", ["../escaped", "/tmp/abs", "sub/dir", ".."])
def test_product_names_must_be_plain_stems(tmp_path, name):
    """A product name is the root of output names: a path would write outside the output folder (issue 9, item 2)."""
    doc = {"asn_type": "image3", "products": [{"name": name, "members": []}]}
    path = tmp_path / "asn.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(AssociationError, match="plain file name stem"):
        read_asn(path, check_members=False)


@pytest.mark.parametrize(
    "member",
    [{"expname": 5}, {"expname": None}, {"expname": ["a_rate.fits"]}, {"expname": ""}, {"expname": "a", "exptype": 1}],
)
def test_member_names_must_be_strings(tmp_path, member):
    """A non-string ``expname`` is a bad association (exit 4), not a TypeError traceback (issue 9)."""
    doc = {"asn_type": "image2", "products": [{"name": "x", "members": [member]}]}
    path = tmp_path / "asn.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(AssociationError, match="must be a non-empty string") as caught:
        read_asn(path, check_members=False)
    assert str(path) in str(caught.value) and caught.value.exit_code == 4


@pytest.mark.parametrize("name", [None, 7, ["x"]])
def test_product_names_must_be_strings(tmp_path, name):
    doc = {"asn_type": "image3", "products": [{"name": name, "members": []}]}
    path = tmp_path / "asn.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(AssociationError, match="'name' must be a string"):
        read_asn(path, check_members=False)
