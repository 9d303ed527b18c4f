"""asdf's extension manifests parse to the same objects with libyaml (gpucal's start-up shortcut)."""

import pytest

yaml = pytest.importorskip("yaml")


def test_libyaml_gives_the_same_manifests_as_pyyaml():
    import asdf

    from gpucal.io.asdf_ext import _LibyamlSafeLoad

    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML built without libyaml: the shortcut is not used")
    fast = _LibyamlSafeLoad(yaml)
    resources = asdf.get_config().resource_manager
    manifests = [uri for uri in resources if "/manifests/" in uri]
    assert manifests, "no asdf manifests installed"
    for uri in manifests:
        content = resources[uri]
        assert fast.safe_load(content) == yaml.safe_load(content), uri


def test_asdf_loads_manifests_through_the_shortcut_after_the_first_read():
    from asdf.extension import _manifest

    from gpucal.io.asdf_ext import _LibyamlSafeLoad, _prepare_asdf

    _prepare_asdf()
    if yaml.__with_libyaml__:
        assert isinstance(_manifest.yaml, _LibyamlSafeLoad)
    assert _manifest.yaml.safe_load("a: [1, b]") == {"a": [1, "b"]}


def test_reads_share_one_extension_discovery(monkeypatch):
    """Reading ASDF trees inside ``config_context`` must not rediscover asdf's entry points each time."""
    import asdf
    from asdf import _entry_points

    from gpucal.io.asdf_ext import asdf_bytes, read_asdf_tree

    blob = asdf_bytes({"meta": {"a": 1}})
    read_asdf_tree(blob, "first.fits")
    calls = []
    for name in ("get_extensions", "get_resource_mappings"):
        original = getattr(_entry_points, name)
        monkeypatch.setattr(_entry_points, name, lambda original=original: calls.append(1) or original())
    for k in range(3):
        assert read_asdf_tree(blob, f"file{k}.fits")["meta"] == {"a": 1}
    assert calls == []
    assert asdf.get_config().extensions  # still loaded on the global configuration
