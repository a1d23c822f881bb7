"""The errors mopldap reports to its user, each with the exit code the CLI returns."""

from __future__ import annotations


class MopldapError(Exception):
    """A failure the user can act on: a one-line message and an exit code."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class ConfigError(MopldapError):
    """Invalid configuration, role map, arguments or request file (exit 1)."""

    exit_code = 1

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message if problems is None else "\n".join(problems))


class DirectoryError(MopldapError):
    """The directory could not be reached, refused the bind, or refused a write (exit 2)."""

    exit_code = 2


class SafetyBrakeError(MopldapError):
    """The inactivity lock would lock more accounts than allowed (exit 3)."""

    exit_code = 3


class LocalFilesError(MopldapError):
    """mopldap's own files (outbox, archive, audit, journal, state) could not be written: disk
    full, read-only (exit 4). Nothing is written to the directory that has no result recorded
    or recordable; the next run, once there is room, finishes what this one left."""

    exit_code = 4


class ServerSetupError(MopldapError):
    """The embedded slapd could not be built, started or stopped (exit 1)."""

    exit_code = 1
