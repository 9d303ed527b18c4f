"""Stage 3 imaging (calwebb_image3): the pipeline and its steps, in jwst's order."""

from gpucal.pipelines.image3.outlier_detection import OutlierDetectionStep
from gpucal.pipelines.image3.pipeline import Image3Pipeline, Image3Result
from gpucal.pipelines.image3.skymatch import SkyMatchStep
from gpucal.pipelines.image3.source_catalog import SourceCatalogStep
from gpucal.pipelines.image3.tweakreg import TweakRegStep

__all__ = [
    "Image3Pipeline",
    "Image3Result",
    "OutlierDetectionStep",
    "SkyMatchStep",
    "SourceCatalogStep",
    "TweakRegStep",
]
