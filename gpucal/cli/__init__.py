"""The ``gpucal`` command line.

Each command lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. Errors print one line (``gpucal: error: ...``) and exit
with the error's code (see :mod:`gpucal.errors`); ``--debug`` shows the
traceback instead. Only commands that work are listed.

SIGTERM and SIGHUP (a batch system's or a closed terminal's stop) stop a
command as Ctrl-C does: the exception unwinds the run, its temporaries are
removed and no partial product is left; the exit code is 128 + the signal
number (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
"""

import argparse
import contextlib
import importlib
import logging
import signal
import sys
import warnings

from gpucal._version import __version__

__all__ = ["main"]

#: Command name -> module, in the order ``--help`` lists them.
COMMANDS = {
    "info": "gpucal.cli.info",
    "simulate": "gpucal.cli.simulate",
    "image2": "gpucal.cli.image2",
    "image3": "gpucal.cli.image3",
    "demo": "gpucal.cli.demo",
    "plot": "gpucal.cli.plot",
    "farm": "gpucal.cli.farm",
}

#: Commands that take jwst-style ``--steps.<step>.<param>=<value>`` options.
_STEP_OPTION_COMMANDS = {"image2", "image3", "farm"}


def _parser():
    parser = argparse.ArgumentParser(
        prog="gpucal",
        description="Fast, faithful JWST imaging calibration on CPUs and GPUs.",
    )
    parser.add_argument("--version", action="version", version=f"gpucal {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def _configure_logging(debug, quiet):
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    try:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=debug, show_time=False, markup=False, rich_tracebacks=debug)
        fmt = "%(message)s"
    except ImportError:  # pragma: no cover - rich is a core dependency
        handler = logging.StreamHandler()
        fmt = "%(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger("gpucal")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if category.__module__.startswith("gpucal") or debug:
            print(f"gpucal: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning
    if not debug:
        warnings.filterwarnings("ignore", category=DeprecationWarning)


def main(argv=None):
    """Run the command line; returns the exit code."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in _STEP_OPTION_COMMANDS:
        # Step options are taken out first, in both forms (``--steps.s.p=V`` and ``--steps.s.p V``), wherever
        # they stand, so that a value is never mistaken for the input nor the input for a value.
        from gpucal.errors import ParameterError
        from gpucal.pipelines.config import parse_step_options

        try:
            steps, rest = parse_step_options(argv)
        except ParameterError as exc:
            print(f"gpucal: error: {exc}", file=sys.stderr)
            return exc.exit_code
        args = parser.parse_args(rest)
        args.steps = steps
    else:
        args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _configure_logging(args.debug, args.quiet)
    module = importlib.import_module(COMMANDS[args.command])
    try:
        with _stop_signals_interrupt():
            return int(module.run(args) or 0)
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        print(f"gpucal: {how}; temporaries removed, earlier products left as they were", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
    except Exception as exc:
        if args.debug:
            raise
        from gpucal.errors import GpucalError

        code = exc.exit_code if isinstance(exc, GpucalError) else 1
        kind = "" if isinstance(exc, GpucalError) else f"{exc.__class__.__name__}: "
        print(f"gpucal: error: {kind}{exc}", file=sys.stderr)
        if not isinstance(exc, GpucalError):
            print("gpucal: (an unexpected error; run with --debug for the traceback)", file=sys.stderr)
        return code


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so that the run unwinds as after Ctrl-C."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stop_signals_interrupt():
    """While a command runs, SIGTERM and SIGHUP raise :class:`_Stopped`; later ones are ignored during cleanup."""
    stop_signals = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]

    def stop(signum, frame):
        for other in stop_signals:  # a repeated stop must not interrupt the removal of temporaries
            signal.signal(other, signal.SIG_IGN)
        raise _Stopped(signum)

    previous = {}
    for signum in stop_signals:
        try:
            previous[signum] = signal.signal(signum, stop)
        except ValueError:  # not the main thread (main() called from a worker): leave the handlers alone
            break
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
