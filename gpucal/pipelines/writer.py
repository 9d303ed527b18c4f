"""Writing a pipeline's product sets while it computes the next ones.

A *product set* is everything one unit of work writes (image2: an exposure's
``_cal``, ``_bsub`` and ``_i2d``). :class:`ProductWriter` writes each set into
scratch folders under the final names and renames the whole set into place at
once (:class:`gpucal.io.atomic.StagedProducts`), so an output folder holds an
exposure's complete new set or its earlier one, never a mix.

With ``background=True`` a set's bytes are written on one background thread
while the pipeline thread computes the next exposure. The headers and the ASDF
extension are built on the pipeline thread when the set is submitted
(:func:`~gpucal.io.exposure.encode_exposure`, a small part of the time): they
are built under ``warnings.catch_warnings``, whose save and restore of the
process-wide filters would, from another thread, hide the pipeline thread's
warnings or leave its temporary filters in place for good. At most one set is
pending: :meth:`ProductWriter.submit` first waits for the
previous set, so memory holds at most the set being written and the exposure
being computed. An error in a background write reaches the pipeline thread at
its next :meth:`~ProductWriter.submit` (or :meth:`~ProductWriter.finish`), as
an :class:`~gpucal.errors.OutputError` naming the file.

Each set's ``timings`` list (the exposure's per-step timings) gains
``("write", seconds, "background" | "foreground")``, the time encoding,
writing and committing it took, and ``("write_wait", seconds, "")``, the time
the pipeline thread spent on it (encoding, then waiting): their difference is
the write time hidden behind computation.
"""

import concurrent.futures
import dataclasses
import logging
import os
import pathlib
import threading
import time

from gpucal.errors import OutputError
from gpucal.io.atomic import StagedProducts
from gpucal.io.exposure import encode_exposure
from gpucal.io.fitsraw import write_hdus

__all__ = ["ProductWriter"]

log = logging.getLogger("gpucal")


class _Cancelled(Exception):
    """A pending set was dropped because the run was interrupted."""


@dataclasses.dataclass
class _ProductSet:
    encoded: list  # (HDUs, final path)
    tag: str
    protect: tuple
    timings: list
    on_commit: object
    encode_seconds: float
    future: object = None


def _reason(exc):
    """What went wrong in a write, without the scratch path the inner message names."""
    cause = exc.__cause__ if isinstance(exc, OutputError) and exc.__cause__ is not None else exc
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return f"{type(cause).__name__}: {cause}"


class ProductWriter:
    """Writes product sets, each committed atomically, at most one pending at a time.

    Parameters
    ----------
    background : bool
        Write on a background thread (a run of several exposures); else in the
        caller's thread when the set is submitted.

    Attributes
    ----------
    write_seconds, wait_seconds : float
        Totals over the sets written: time spent writing them, and time the
        caller spent on them (encoding and waiting).
    """

    def __init__(self, *, background=True):
        self.background = bool(background)
        self._executor = (
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="gpucal-write") if self.background else None
        )
        self._pending = None
        self._cancel = threading.Event()
        self.write_seconds = 0.0
        self.wait_seconds = 0.0

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
            return False
        # The run failed: an interrupt (SIGINT, SIGTERM, SIGHUP) drops the pending set at once; any other
        # error lets it finish, since that exposure was calibrated completely.
        interrupted = issubclass(exc_type, KeyboardInterrupt)
        try:
            self.close(cancel=interrupted)
        except Exception as error:  # the original error is what the caller must see
            log.error("%s", error)
        return False

    def submit(self, products, *, tag, protect=(), timings=None, on_commit=None):
        """Write ``products`` as one set (after the previous set is committed).

        Parameters
        ----------
        products : list of (Exposure, os.PathLike)
            Host exposures and their final paths. Their arrays must not change once submitted.
        tag : str
            Names the set's scratch folders (:class:`~gpucal.io.atomic.ScratchFolder`).
        protect : iterable of os.PathLike
            Files no product may replace (the run's inputs).
        timings : list, optional
            Gets the ``write`` and ``write_wait`` entries.
        on_commit : callable, optional
            ``on_commit(paths)`` once the set is in place (on the writing thread).
        """
        self.wait()
        start = time.perf_counter()
        encoded = []
        for exposure, target in products:
            target = pathlib.Path(target)
            try:
                encoded.append((encode_exposure(exposure, target), target))
            except Exception as exc:
                raise OutputError(f"{target}: write failed ({_reason(exc)})") from exc
        seconds = time.perf_counter() - start
        job = _ProductSet(encoded, tag, tuple(protect), timings if timings is not None else [], on_commit, seconds)
        if self._executor is None:
            self._write(job, "foreground")
            self._record_wait(job, time.perf_counter() - start)
            return
        job.future = self._executor.submit(self._write, job, "background")
        self._pending = job

    def wait(self):
        """Block until the pending set is committed; returns the seconds waited. Raises its error."""
        job = self._pending
        if job is None:
            return 0.0
        start = time.perf_counter()
        try:
            job.future.result()
        except BaseException:
            if job.future.done():  # its error is reported now; an interrupt of this wait leaves it pending
                self._pending = None
            raise
        self._pending = None
        waited = time.perf_counter() - start
        self._record_wait(job, job.encode_seconds + waited)
        return waited

    def finish(self):
        """Wait for the last set and stop the thread; returns the seconds waited."""
        try:
            return self.wait()
        finally:
            self.close()

    def close(self, *, cancel=False):
        """Stop writing: with ``cancel``, a pending set not yet renamed into place is dropped."""
        if cancel:
            self._cancel.set()
        job, self._pending = self._pending, None
        try:
            if job is not None:
                try:
                    job.future.result()
                except _Cancelled:
                    pass
                except KeyboardInterrupt:
                    self._cancel.set()
                    raise
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)

    def _record_wait(self, job, seconds):
        job.timings.append(("write_wait", seconds, ""))
        self.wait_seconds += seconds

    def _check_cancel(self):
        if self._cancel.is_set():
            raise _Cancelled

    def _write(self, job, where):
        start = time.perf_counter()
        with StagedProducts(job.tag) as staged:
            for hdus, target in job.encoded:
                self._check_cancel()
                path = staged.stage(target)
                try:
                    write_hdus(path, hdus)
                except Exception as exc:
                    raise OutputError(f"{target}: write failed ({_reason(exc)})") from exc
            self._check_cancel()
            written = staged.commit(protect=job.protect)
        seconds = job.encode_seconds + time.perf_counter() - start
        job.timings.append(("write", seconds, where))
        self.write_seconds += seconds
        for path in written:
            log.info("wrote %s", os.fspath(path))
        if job.on_commit is not None:
            job.on_commit(written)
        return written
