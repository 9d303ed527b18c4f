"""Stage 3 imaging (calwebb_image3): the pipeline and its steps, in jwst's order."""

from gpucal.pipelines.image3.outlier_detection import OutlierDetectionStep
from gpucal.pipelines.image3.pending import SourceCatalogStep, TweakRegStep
from gpucal.pipelines.image3.pipeline import Image3Pipeline, Image3Result
from gpucal.pipelines.image3.skymatch import SkyMatchStep

__all__ = [
    "Image3Pipeline",
    "Image3Result",
    "OutlierDetectionStep",
    "SkyMatchStep",
    "SourceCatalogStep",
    "TweakRegStep",
]
