"""Logging through structlog, imported when the first event is logged.

structlog's package imports its console renderer, its stdlib bridge (and asyncio with it) and,
where it is installed, rich: 45-100 ms before a command could open its first LDAP connection.
A module takes `log = get_logger(__name__)` from here; the import happens at the first call on
it, and the configuration the command line chose (`configure`) is applied then.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TextIO

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_settings: tuple[str, str, TextIO | None] | None = None


def configure(format: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Console on a terminal (or format console), JSON lines otherwise; applied now if structlog
    is loaded, else when the first event is logged."""
    global _settings
    _settings = (format, level, stream)
    if "structlog" in sys.modules:
        _apply(sys.modules["structlog"])


def _apply(structlog: ModuleType) -> None:
    global _settings
    if _settings is None:
        return
    format, level, stream = _settings
    _settings = None
    stream = stream or sys.stderr
    use_console = format == "console" or (format == "auto" and stream.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if use_console:
        # plain tracebacks: a rich one would show local variables, a request's text among them
        processors.append(structlog.dev.ConsoleRenderer(colors=stream.isatty(),
                                                        exception_formatter=structlog.dev.plain_traceback))
    else:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(ensure_ascii=False)]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def _structlog() -> ModuleType:
    import structlog

    _apply(structlog)
    return structlog


class Logger:
    """structlog's logger for `name`, looked up at each call (structlog's own loggers read their
    configuration when they bind, so a test's capture_logs sees these events too)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, method: str) -> Any:
        return getattr(_structlog().get_logger(self._name), method)


def get_logger(name: str) -> Logger:
    return Logger(name)


def bind(**values: Any) -> None:
    """Add `values` to every event logged from this context on."""
    _structlog().contextvars.bind_contextvars(**values)


def unbind(*keys: str) -> None:
    _structlog().contextvars.unbind_contextvars(*keys)


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """`values` on every event logged inside the block."""
    with _structlog().contextvars.bound_contextvars(**values):
        yield
