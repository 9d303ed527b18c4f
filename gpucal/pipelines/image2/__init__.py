"""Stage 2 imaging (calwebb_image2): the pipeline and its steps."""

from gpucal.pipelines.image2.assign_wcs import AssignWcsStep
from gpucal.pipelines.image2.bkg_subtract import BackgroundStep
from gpucal.pipelines.image2.flat_field import FlatFieldStep
from gpucal.pipelines.image2.photom import PhotomStep
from gpucal.pipelines.image2.pipeline import Image2Pipeline
from gpucal.pipelines.resample import ResampleStep

__all__ = ["AssignWcsStep", "BackgroundStep", "FlatFieldStep", "Image2Pipeline", "PhotomStep", "ResampleStep"]
