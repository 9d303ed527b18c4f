"""Parameters of imaging outlier detection, with jwst 3.0 ``OutlierDetectionStep`` names and defaults."""

import dataclasses
import math

from gpucal.dqflags import interpret_bit_flags
from gpucal.errors import ParameterError
from gpucal.resample.engine import parse_fillval

__all__ = ["OutlierParams"]

_KERNELS = ("square", "point", "turbo")
_WEIGHTS = ("ivm", "exptime")


def _pair(value, name):
    """jwst's ``'5.0 4.0'`` strings (or a pair of numbers) -> two floats."""
    parts = value.split() if isinstance(value, str) else list(value)
    try:
        pair = tuple(float(v) for v in parts)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}: {value!r} is not two numbers such as '5.0 4.0'") from None
    if len(pair) != 2 or not all(math.isfinite(v) for v in pair):
        raise ParameterError(f"{name}: {value!r} is not two finite numbers such as '5.0 4.0'")
    return pair


@dataclasses.dataclass(frozen=True)
class OutlierParams:
    """jwst's imaging outlier-detection parameters (``outlier_detection`` step spec).

    Parameters
    ----------
    weight_type : {'ivm', 'exptime'}
        Drizzle weighting of the single images.
    pixfrac : float
        Drizzle pixel shrinkage factor, in [0, 1].
    kernel : {'square', 'point', 'turbo'}
        Drizzle kernel of the single images.
    fillval : str
        Value of uncovered single-image pixels ('NAN', 'INDEF' or a number).
    maskpt : float
        Fraction of a group's clipped mean weight below which its pixels are left out of the median.
    snr : str
        Two signal-to-noise thresholds, before and after growing the mask ('5.0 4.0').
    scale : str
        Two factors of the blot's derivative, before and after growing ('1.2 0.7').
    backg : float
        Background level subtracted from ``SCI - blot`` (replaced by an exposure's
        BKGLEVEL when that level is set and was not subtracted).
    good_bits : str or int
        DQ bits that still count as good for the single drizzles.
    resample_data : bool
        Median of drizzled groups (True) or of the inputs themselves (False).
    in_memory : bool
        Allow keeping the single images in memory when they fit the memory budget.
    save_intermediate_results : bool
        Keep the singles, the median and the blots for the caller to write.

    Raises
    ------
    ParameterError
        Naming the first invalid parameter.
    """

    weight_type: str = "ivm"
    pixfrac: float = 1.0
    kernel: str = "square"
    fillval: str = "NAN"
    maskpt: float = 0.7
    snr: str = "5.0 4.0"
    scale: str = "1.2 0.7"
    backg: float = 0.0
    good_bits: str | int = "~DO_NOT_USE"
    resample_data: bool = True
    in_memory: bool = True
    save_intermediate_results: bool = False

    def __post_init__(self):
        if self.weight_type not in _WEIGHTS:
            raise ParameterError(f"weight_type: {self.weight_type!r} is not one of {_WEIGHTS}")
        if self.kernel not in _KERNELS:
            raise ParameterError(f"kernel: {self.kernel!r} is not one of {_KERNELS} (jwst's outlier_detection kernels)")
        for name in ("pixfrac", "maskpt", "backg"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ParameterError(f"{name}: {value!r} is not a finite number")
        if not 0.0 <= self.pixfrac <= 1.0:
            raise ParameterError(f"pixfrac: {self.pixfrac} is not in [0, 1]")
        parse_fillval(self.fillval)
        interpret_bit_flags(self.good_bits)
        self.snr_pair  # noqa: B018 - validates
        self.scale_pair  # noqa: B018 - validates
        for name in ("resample_data", "in_memory", "save_intermediate_results"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"{name}: {getattr(self, name)!r} is not true or false")

    @property
    def snr_pair(self):
        """``(snr1, snr2)`` as floats."""
        return _pair(self.snr, "snr")

    @property
    def scale_pair(self):
        """``(scale1, scale2)`` as floats."""
        return _pair(self.scale, "scale")
