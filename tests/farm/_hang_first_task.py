"""Dask worker preload for the farm tests: this worker's first farm task announces itself, then hangs.

``dask worker --preload tests/farm/_hang_first_task.py`` with ``GPUCAL_TEST_HANG_MARKER=<file>``
set: the first :func:`gpucal.farm.tasks._process` call on the worker writes its input path and
the worker's pid to ``<file>`` and sleeps, so the test can kill the worker while the task runs.
Tasks are pickled by reference, so replacing the module attribute here changes what runs.
"""

import os
import pathlib
import time


def dask_setup(worker):
    import gpucal.farm.tasks as tasks

    marker = pathlib.Path(os.environ["GPUCAL_TEST_HANG_MARKER"])
    original = tasks._process

    def hang_first(path, *args, **kwargs):
        if not marker.exists():
            partial = marker.with_suffix(".partial")
            partial.write_text(f"{path}\n{os.getpid()}\n")
            partial.rename(marker)
            time.sleep(600)
        return original(path, *args, **kwargs)

    tasks._process = hang_first
