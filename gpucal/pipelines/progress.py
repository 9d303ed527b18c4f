"""A progress bar per Stage 3 step over its exposures (rich), quiet where nobody watches.

The bar is drawn only on an interactive terminal and when the ``gpucal``
logger shows INFO; in tests, pipes and farm workers it is a no-op, so logs
stay clean.
"""

import contextlib
import logging

__all__ = ["step_progress"]


@contextlib.contextmanager
def step_progress(label, total):
    """Yield ``advance(n=1)`` for a bar labelled ``label`` counting to ``total``."""
    from rich.console import Console

    console = Console(stderr=True)
    if total < 1 or not console.is_terminal or not logging.getLogger("gpucal").isEnabledFor(logging.INFO):
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)
