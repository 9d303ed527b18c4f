"""Distributed runs on Dask: many inputs, many processes, many GPUs.

See :func:`gpucal.farm.tasks.run_many` (``run_image2_many``, ``run_image3_many``).
"""

from gpucal.farm.cluster import connect
from gpucal.farm.tasks import FarmTask, run_image2_many, run_image3_many, run_many

__all__ = ["FarmTask", "connect", "run_image2_many", "run_image3_many", "run_many"]
