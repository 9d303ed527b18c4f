"""Exposure groups: jwst's ``group_id`` (detectors of one exposure form one group).

Stage 3 steps treat exposures with the same group id as one pointing: resample
counts NDRIZ and exposure times per group, outlier detection and skymatch
work per group.
"""

__all__ = ["group_id"]

_KEYS = (
    "program_number",
    "observation_number",
    "visit_number",
    "visit_group",
    "sequence_id",
    "activity_id",
    "exposure_number",
)


def group_id(meta):
    """``jw{program}{obs}{visit}_{visit_group}{seq}{act}_{exposure}`` from ``meta.observation``.

    Returns the stored ``meta.group_id`` when set; None when an observation
    keyword is missing (the caller then treats the exposure as its own group).
    """
    stored = meta.group_id
    if stored:
        return stored
    obs = meta.observation
    values = [obs.get(k) for k in _KEYS]
    if any(v is None for v in values):
        return None
    p, o, v, vg, seq, act, exp = values
    return f"jw{p}{o}{v}_{vg}{seq}{act}_{exp}"
