"""Pipelines (image2, image3; detector1 comes later) and their steps."""

__all__ = ["Image2Pipeline", "Image3Pipeline"]


def __getattr__(name):
    if name == "Image2Pipeline":
        from gpucal.pipelines.image2 import Image2Pipeline

        return Image2Pipeline
    if name == "Image3Pipeline":
        from gpucal.pipelines.image3 import Image3Pipeline

        return Image3Pipeline
    raise AttributeError(name)
