"""jwst parameter files given with ``--config``: malformed files are one-line errors naming the file once."""

import pytest

from gpucal.errors import ParameterError
from gpucal.pipelines.config import read_parameter_file

ASDF_HEADER = "#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n--- !core/asdf-1.1.0\n"


def test_reads_a_jwst_parameter_file(tmp_path):
    path = tmp_path / "pars.yaml"
    path.write_text(
        "class: jwst.pipeline.Image2Pipeline\nparameters: {save_bsub: false}\n"
        "steps:\n- class: x\n  name: flat_field\n  parameters: {skip: true}\n- name: photom\n"
    )
    assert read_parameter_file(path) == (
        "jwst.pipeline.Image2Pipeline",
        {"save_bsub": False},
        {"flat_field": {"skip": True}, "photom": {}},
    )


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("syntax.yaml", "steps:\n  - name: flat_field\n    parameters: {skip: true\n  - name: x\n", "at line 4"),
        ("tabs.yaml", "steps:\n\t- name: x\n", "YAML:"),
        ("listpars.yaml", "steps:\n  - name: flat_field\n    parameters: [1, 2]\n", "must be a mapping, not list"),
        ("intpars.yaml", "parameters: 5\n", "'parameters' must be a mapping, not int"),
        ("steps.yaml", "steps: 3\n", "'steps' must be a list"),
        ("noname.yaml", "steps:\n  - parameters: {}\n", "needs a 'name'"),
        ("scalar.yaml", "just text\n", "expected a mapping"),
        ("syntax.asdf", ASDF_HEADER + "steps: [\n  {name: x\n...\n", "YAML:"),
        ("nomarker.asdf", ASDF_HEADER + "steps: []\n", "unreadable parameter file"),
        ("binary.asdf", "\x00\x01garbage", "unreadable parameter file"),
    ],
)
def test_malformed_files_are_one_line_errors(tmp_path, name, text, problem):
    """YAML's multi-line excerpts and TypeErrors of a wrong shape become one line (issue 9)."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ParameterError) as caught:
        read_parameter_file(path)
    message = str(caught.value)
    assert problem in message
    assert "\n" not in message and message.count(str(path)) == 1 and "<unicode string>" not in message


def test_missing_file(tmp_path):
    with pytest.raises(ParameterError, match="no such file"):
        read_parameter_file(tmp_path / "absent.yaml")
