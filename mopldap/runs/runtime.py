"""One run's context: config, role map, connection, audit sink, run id and clock."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .. import logs
from ..files.archive import Archive
from ..files.audit import AuditLog
from ..files.atomic import remove_temporaries
from ..files.folders import check_folders
from ..files.lock import RunLock
from ..files.state import RunState, check_due, load_state, save_state
from ..ldap.directory import Directory
from ..ldap.executor import Executor
from ..ldap.groupwatch import GroupWatch
from ..logs import get_logger
from ..model.config import Config
from ..model.layout import Layout
from ..model.rolemap import RoleMap

log = get_logger(__name__)


@dataclass
class Runtime:
    config: Config
    rolemap: RoleMap
    directory: Directory
    audit: AuditLog
    run_id: str
    now: dt.datetime
    dry_run: bool = False
    state: RunState | None = None
    watch: GroupWatch = field(default_factory=lambda: GroupWatch({}, ()))
    archived: set[int] = field(default_factory=set)
    holders: dict[str, set[str]] = field(default_factory=dict)
    _reconciled: tuple[dt.datetime, bool, bool] | None = None  # started, full, memberOf checked
    _marked: bool = False
    inactivity_done: bool = False  # the inactivity step did all it had to: no brake, no failed write or mail

    @property
    def layout(self) -> Layout:
        return Layout(self.config.ldap.base_dn)

    def reconciled(self, started: dt.datetime, full: bool, verified: bool = False) -> None:
        """Note that a reconcile finished: the next one need only read what changed after `started`
        (and, `verified`, that it checked every member's memberOf and entry)."""
        self._reconciled = (started, full, full and verified)

    def inactivity_settings(self) -> str:
        """A digest of what decides who is idle, warned and exempt, and which servers say so: a
        check made with other settings does not count."""
        config = self.config
        settings = [config.ldap.base_dn, config.ldap.providers, [r.url for r in config.ldap.replicas],
                    self.rolemap.digest, {k: v for k, v in asdict(config.inactivity).items() if k != "check_every_hours"},
                    config.notify.warn_days, config.notify.min_warning_days, config.notify.smtp is not None]
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


    def inactivity_not_due(self) -> dt.datetime | None:
        """When the inactivity step last checked, if that is less than inactivity.check_every_hours
        before this run (with the same settings): then `sync` need not check again. Else None."""
        old = self.state
        if old is None or old.inactivity_settings != self.inactivity_settings():
            return None
        checked = old.inactivity_checked_time()
        return None if check_due(checked, self.now, self.config.inactivity.check_every_hours) else checked

    def state_to_save(self) -> RunState:
        old = self.state or RunState()
        # a run that wrote no group (lock-inactive locking nobody) never read the groups' entryCSN
        groups = self.watch.to_record() if self.watch.loaded else dict(old.groups)
        # the base DN the watermark and the last full run belong to: only a reconcile moves it
        base_dn = self.layout.base_dn if self._reconciled is not None else old.base_dn
        state = RunState(base_dn, self.rolemap.digest, old.watermark, old.last_full, groups,
                         last_verified=old.last_verified, inactivity_checked=old.inactivity_checked,
                         inactivity_settings=old.inactivity_settings)
        if self.inactivity_done:
            state.inactivity_checked, state.inactivity_settings = self.now.isoformat(), self.inactivity_settings()
        if self._reconciled is not None:
            started, full, verified = self._reconciled
            if full or old.rolemap == self.rolemap.digest:
                state.watermark = started.isoformat()
                if full:
                    state.last_full = started.isoformat()
                if verified:
                    state.last_verified = started.isoformat()
        elif old.rolemap != self.rolemap.digest:
            state.rolemap = old.rolemap  # the role map changed: keep that visible until a full reconcile
        if self._reconciled is None or not self._reconciled[2]:
            state.writing_groups = old.writing_groups  # a run that died writing groups: until memberOf is checked
        return state

    def writing_groups(self) -> None:
        """Before the run's first group write: note it in the state, so that if the run (or slapd)
        dies while the memberof overlay is updating members, the next reconcile is a full one."""
        if self.dry_run or self._marked or self.state is None:
            return
        self._marked = True
        save_state(self.config.paths.state, replace(self.state, writing_groups=self.run_id))

    def executor(self, directory: Directory | None = None) -> Executor:
        """The executor of this run, writing through `directory` (default: the run's connection)."""
        return Executor(
            directory=directory or self.directory,
            audit=self.audit,
            dry_run=self.dry_run,
            run_id=self.run_id,
            archive_to=Archive(self.config.paths.archive).write_deleted_entry,
            watch=self.watch,
            layout=self.layout,
            archived=self.archived,
            holders=self.holders,
            before_group_write=self.writing_groups,
        )


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]

WAIT = 600.0  # seconds a command waits for another run to finish (sync --wait)


def run_lock(config: Config) -> RunLock:
    return RunLock(config.paths.work / "run.lock")


def trusted_folders(config: Config) -> dict[str, Path]:
    return config.paths.folders(config.logging.audit_file)


@contextmanager
def open_runtime(config: Config, rolemap: RoleMap, now: dt.datetime, dry_run: bool = False, wait: float = WAIT,
                 stop: Callable[[], bool] = lambda: False, folders: bool = True) -> Iterator[Runtime]:
    """Take the run lock (unless dry-run: it writes nothing), connect and bind; release and
    close everything on exit. Raise ConfigError (exit 1) if a folder of `paths` may not be
    trusted (unless not `folders`: reports touch none), RunBusy (exit 5) if another run holds
    the lock past `wait` seconds, DirectoryError (exit 2) if the directory cannot be reached."""
    run_id = new_run_id()
    if folders:  # requested_by is believed because only their owner can write the inbox
        check_folders(trusted_folders(config))
    lock = run_lock(config)
    if not dry_run:
        lock.acquire(run_id, wait, lambda who: log.warning("run_waiting", holder=who, wait_seconds=wait), stop)
        paths = config.paths  # what a killed run left half written:
        remove_temporaries([paths.state.parent, config.logging.audit_file.parent],
                           [paths.outbox, paths.archive, paths.work], paths.inbox)
    try:
        with _connected(config, rolemap, now, dry_run, run_id) as rt:
            yield rt
    finally:
        lock.release()


@contextmanager
def _connected(config: Config, rolemap: RoleMap, now: dt.datetime, dry_run: bool, run_id: str) -> Iterator[Runtime]:
    directory = Directory(config.ldap).connect()
    audit = AuditLog(None if dry_run else config.logging.audit_file)
    logs.bind(run_id=run_id)
    state = load_state(config.paths.state)
    layout = Layout(config.ldap.base_dn)
    watch = GroupWatch(state.groups if state else {}, (layout.roles, layout.systems))
    rt = Runtime(config, rolemap, directory, audit, run_id, now, dry_run, state, watch)
    try:
        yield rt
        if not dry_run and (watch.loaded or rt.inactivity_done):
            save_state(config.paths.state, rt.state_to_save())
    finally:
        logs.unbind("run_id")
        audit.close()
        rt.directory.close()  # the one the run ended on (another provider, after a failover)
