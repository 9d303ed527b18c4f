"""Collect kernel parity cases from ``tests/kernels/cases_*.py``.

Each such module defines ``CASES``: a list of :class:`Case`. A case builds
the arguments of one kernel call from a seeded RNG; ``test_parity`` runs the
numpy reference, the numba CPU form and the CUDA form on them and compares.
Inputs must be small (the CUDA form runs in numba's simulator in CI).
"""

import dataclasses
import importlib
import pathlib
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Case:
    """One parity scenario: ``make(rng) -> args`` for kernel ``kernel``."""

    kernel: str
    id: str
    make: Callable
    compare: Callable | None = None  # custom comparison(ref_out, other_out, spec)


def all_cases():
    cases = []
    for path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
        module = importlib.import_module(f"tests.kernels.{path.stem}")
        cases.extend(module.CASES)
    return cases
