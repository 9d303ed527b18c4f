"""JWST data-quality bit values (stdatamodels ``dqflags.pixel``), value = 2**bit."""

__all__ = ["BAD_FOR_RESAMPLE", "PIXEL", "interpret_bit_flags"]

PIXEL = {
    "GOOD": 0,
    "DO_NOT_USE": 1 << 0,
    "SATURATED": 1 << 1,
    "JUMP_DET": 1 << 2,
    "DROPOUT": 1 << 3,
    "OUTLIER": 1 << 4,
    "PERSISTENCE": 1 << 5,
    "AD_FLOOR": 1 << 6,
    "CHARGELOSS": 1 << 7,
    "RESERVED": 1 << 8,
    "NON_SCIENCE": 1 << 9,
    "DEAD": 1 << 10,
    "HOT": 1 << 11,
    "WARM": 1 << 12,
    "LOW_QE": 1 << 13,
    "RC": 1 << 14,
    "TELEGRAPH": 1 << 15,
    "NONLINEAR": 1 << 16,
    "BAD_REF_PIXEL": 1 << 17,
    "NO_FLAT_FIELD": 1 << 18,
    "NO_GAIN_VALUE": 1 << 19,
    "NO_LIN_CORR": 1 << 20,
    "NO_SAT_CHECK": 1 << 21,
    "UNRELIABLE_BIAS": 1 << 22,
    "UNRELIABLE_DARK": 1 << 23,
    "UNRELIABLE_SLOPE": 1 << 24,
    "UNRELIABLE_FLAT": 1 << 25,
    "OPEN": 1 << 26,
    "ADJ_OPEN": 1 << 27,
    "FLUX_ESTIMATED": 1 << 28,
    "MSA_FAILED_OPEN": 1 << 29,
    "OTHER_BAD_PIXEL": 1 << 30,
    "REFERENCE_PIXEL": 1 << 31,
}

DO_NOT_USE = PIXEL["DO_NOT_USE"]
NO_FLAT_FIELD = PIXEL["NO_FLAT_FIELD"]
OUTLIER = PIXEL["OUTLIER"]
NON_SCIENCE = PIXEL["NON_SCIENCE"]
REFERENCE_PIXEL = PIXEL["REFERENCE_PIXEL"]
#: Pixels resample treats as bad by default (good_bits "~DO_NOT_USE+NON_SCIENCE").
BAD_FOR_RESAMPLE = DO_NOT_USE | NON_SCIENCE


def interpret_bit_flags(spec):
    """Turn a jwst ``good_bits``/``dqbits`` value into the integer of *good* bits.

    Accepts ``None`` (all bits good, i.e. nothing rejected: returns ``None``),
    an integer, or a string of flag names and integers joined by ``+`` or
    ``,``, optionally prefixed by ``~`` meaning "all bits except these".
    This follows astropy's ``interpret_bit_flags`` with the JWST mnemonics.

    Returns
    -------
    int or None
        Bits that are acceptable; a pixel is bad when ``dq & ~good != 0``.

    Examples
    --------
    >>> interpret_bit_flags("~DO_NOT_USE+NON_SCIENCE") == (~513 & 0xFFFFFFFF)
    True
    """
    from gpucal.errors import ParameterError

    if spec is None:
        return None
    if isinstance(spec, int):
        return spec & 0xFFFFFFFF
    text = str(spec).strip()
    if text.upper() in ("", "NONE", "INDEF"):
        return None
    invert = text.startswith("~")
    if invert:
        text = text[1:].strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    value = 0
    for token in text.replace(",", "+").split("+"):
        token = token.strip()
        if not token:
            continue
        if token.upper() in PIXEL:
            value |= PIXEL[token.upper()]
        else:
            try:
                value |= int(token)
            except ValueError:
                msg = f"bit flags: {token!r} in {spec!r} is neither an integer nor a DQ flag name"
                raise ParameterError(msg) from None
    return (~value & 0xFFFFFFFF) if invert else value
