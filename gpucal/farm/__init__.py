"""Distributed runs on Dask: many inputs, many processes, many GPUs, batch systems.

See :func:`gpucal.farm.tasks.run_many` (``run_image2_many``, ``run_image3_many``),
:mod:`gpucal.farm.cluster` (local clusters, threads and GPUs per worker),
:mod:`gpucal.farm.jobqueue` (Slurm, PBS, SGE, LSF, HTCondor) and
:mod:`gpucal.farm.report` (the JSON run report and ``--resume``).
"""

from gpucal.farm.cluster import connect
from gpucal.farm.tasks import FarmTask, execute_farm, prepare_farm, run_image2_many, run_image3_many, run_many

__all__ = ["FarmTask", "connect", "execute_farm", "prepare_farm", "run_image2_many", "run_image3_many", "run_many"]
