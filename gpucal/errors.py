"""Exceptions and warnings raised by gpucal.

Every error a user can cause derives from :class:`GpucalError` and carries an
``exit_code`` used by the command line, so scripts can tell a missing GPU from
a corrupt input file without parsing messages.
"""

__all__ = [
    "AssociationError",
    "BackendNotSupportedError",
    "DeviceMemoryError",
    "DeviceUnavailableError",
    "GpucalError",
    "GpucalWarning",
    "HostFallbackWarning",
    "InputFileError",
    "NoSourcesWarning",
    "OutputError",
    "ParameterError",
    "ReferenceFileError",
    "StepSkippedWarning",
]


class GpucalError(Exception):
    """Base class of all gpucal errors (exit code 1)."""

    exit_code = 1


class ParameterError(GpucalError, ValueError):
    """A parameter value is invalid; the message names the parameter (exit code 2)."""

    exit_code = 2


class DeviceUnavailableError(GpucalError, RuntimeError):
    """A GPU was required (``require_gpu``) but none is usable (exit code 3)."""

    exit_code = 3


class DeviceMemoryError(GpucalError, MemoryError):
    """The GPU does not have the memory an operation needs (exit code 3)."""

    exit_code = 3


class BackendNotSupportedError(GpucalError, TypeError):
    """An array type or device that no kernel form supports (exit code 3)."""

    exit_code = 3


class InputFileError(GpucalError, OSError):
    """An input product is missing, unreadable, corrupt or of the wrong layout (exit code 4)."""

    exit_code = 4


class AssociationError(InputFileError):
    """An association file is malformed or names members that do not exist (exit code 4)."""


class ReferenceFileError(GpucalError):
    """A reference file is missing, unreadable or does not match the science data (exit code 5)."""

    exit_code = 5


class OutputError(GpucalError, OSError):
    """An output cannot be written (exit code 6); nothing partial is left behind."""

    exit_code = 6


class GpucalWarning(UserWarning):
    """Base class of gpucal warnings."""


class HostFallbackWarning(GpucalWarning):
    """A GPU was requested but is not usable, so the work runs on the CPU."""


class StepSkippedWarning(GpucalWarning):
    """A pipeline step was skipped for a documented reason (e.g. no matching reference row)."""


class NoSourcesWarning(GpucalWarning):
    """A source-finding step found no sources."""
