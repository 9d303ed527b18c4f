"""Imaging outlier detection (jwst ``outlier_detection``), memory-flat in the number of exposures."""

from gpucal.outlier.driver import MemberResult, OutlierResults, SingleImage, detect_outliers
from gpucal.outlier.median import BandStore, band_rows, median_by_bands
from gpucal.outlier.params import OutlierParams
from gpucal.outlier.threshold import weight_threshold

__all__ = [
    "BandStore",
    "MemberResult",
    "OutlierParams",
    "OutlierResults",
    "SingleImage",
    "band_rows",
    "detect_outliers",
    "median_by_bands",
    "weight_threshold",
]
