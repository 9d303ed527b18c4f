"""Pipelines (image2; image3 and detector1 come later) and their steps."""

__all__ = ["Image2Pipeline"]


def __getattr__(name):
    if name == "Image2Pipeline":
        from gpucal.pipelines.image2 import Image2Pipeline

        return Image2Pipeline
    raise AttributeError(name)
