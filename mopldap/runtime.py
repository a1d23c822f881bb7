"""One run's context: config, role map, connection, audit sink, run id and clock."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog

from .apply import Executor
from .config import Config
from .directory import Directory
from .layout import Layout
from .logging import AuditLog
from .rolemap import RoleMap


@dataclass
class Runtime:
    config: Config
    rolemap: RoleMap
    directory: Directory
    audit: AuditLog
    run_id: str
    now: dt.datetime
    dry_run: bool = False

    @property
    def layout(self) -> Layout:
        return Layout(self.config.ldap.base_dn)

    def executor(self) -> Executor:
        return Executor(
            directory=self.directory,
            audit=self.audit,
            dry_run=self.dry_run,
            run_id=self.run_id,
            archive_dir=self.config.paths.archive,
            placeholder=self.layout.placeholder,
            base_dn=self.layout.base_dn,
        )


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


@contextmanager
def open_runtime(config: Config, rolemap: RoleMap, now: dt.datetime, dry_run: bool = False) -> Iterator[Runtime]:
    """Connect and bind (DirectoryError, exit 2, if that fails); close everything on exit."""
    run_id = new_run_id()
    directory = Directory(config.ldap).connect()
    audit = AuditLog(None if dry_run else config.logging.audit_file)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    try:
        yield Runtime(config, rolemap, directory, audit, run_id, now, dry_run)
    finally:
        structlog.contextvars.unbind_contextvars("run_id")
        audit.close()
        directory.close()
