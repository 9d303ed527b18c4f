"""Options every pipeline command shares (image2, image3): output folder, device, parameter file, references."""

import pathlib

__all__ = ["add_pipeline_options"]


def add_pipeline_options(parser, pipeline):
    """Add ``--output-dir``, ``--device``, ``--require-gpu``, ``--config``, ``--ref-dir`` and ``--print-config``."""
    parser.add_argument("--output-dir", type=pathlib.Path, default=None, help="output folder (default: current folder)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument(
        "--require-gpu", action="store_true", default=None, help="fail instead of falling back to the CPU"
    )
    parser.add_argument(
        "--config", type=pathlib.Path, default=None, help=f"jwst parameter file (ASDF/YAML) for {pipeline}"
    )
    parser.add_argument(
        "--ref-dir", type=pathlib.Path, default=None, help="local reference folder (default: $GPUCAL_REF_DIR)"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print every step parameter with its default and exit"
    )
