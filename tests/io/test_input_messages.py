"""Bad input files: exit 4, one line, the file named once (issue 9, "paths printed once")."""

import gzip

import pytest

from gpucal.cli import main
from tests.factories import write_small_rate


@pytest.fixture
def rate(tmp_path):
    return write_small_rate(tmp_path)


def _damaged(kind, rate, folder):
    data = rate.read_bytes()
    if kind == "text":
        path = folder / "text_rate.fits"
        path.write_text("hello\n")
    elif kind == "truncated header":
        path = folder / "cut_rate.fits"
        path.write_bytes(data[: 2880 * 6 + 100])
    else:  # a gzip stream cut inside the data
        path = folder / "cut_rate.fits.gz"
        path.write_bytes(gzip.compress(data)[:3000])
    return path


@pytest.mark.parametrize("kind", ["text", "truncated header", "truncated gzip"])
def test_damaged_inputs_name_the_file_once(rate, tmp_path, capsys, kind):
    path = _damaged(kind, rate, tmp_path)
    assert main(["image2", str(path), "--device", "cpu", "--output-dir", str(tmp_path / "out")]) == 4
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("gpucal: error:")]
    assert len(lines) == 1 and lines[0].count(str(path)) == 1, lines
