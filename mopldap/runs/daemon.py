"""`mopldap daemon`: the sync steps on cron schedules (APScheduler), until SIGTERM or SIGINT.

- One worker thread: runs never overlap. A job whose time comes while the worker is
  busy waits for it and runs late (never dropped: no misfire grace); a job whose
  previous run is still waiting or running is skipped, logged with its next time.
- Every run takes the run lock, as `mopldap sync` does: if another process holds it,
  the run waits for it.
- A file renamed into the inbox starts an inbox run within a second (the inbox folder
  is watched with a cheap stat twice a second), whatever `schedule.inbox` says.
- Each run connects, runs its step with its own run id, and disconnects; a
  directory outage fails that run (logged) and the next one tries again.
- SIGTERM/SIGINT: no new run starts; the run in progress finishes; exit 0.
- Two daemons (two hosts, for availability) share the directory's lease entry
  (ldap/lease.py): only the holder runs jobs; the other logs that it stands by, and takes
  over once the holder has not renewed the lease for `daemon.lease_seconds`.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import asdict

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from ..files.folders import check_folders
from ..files.inbox import Inbox
from ..ldap.directory import Directory
from ..ldap.lease import release, take_or_renew
from ..logs import get_logger
from ..model.config import Config
from ..model.cron import cron_trigger
from ..model.errors import MopldapError
from ..model.layout import Layout
from ..model.rolemap import RoleMap
from ..model.times import parse_as_of
from .runtime import open_runtime, trusted_folders
from .summary import InboxSummary
from .sync import run_steps

log = get_logger(__name__)
JOBS = {"inbox": (True, False, False), "reconcile": (False, True, False), "inactivity": (False, False, True)}
WATCH_SECONDS = 0.5
STOP_POLL_SECONDS = 0.2  # how soon the main thread sees a SIGTERM the handler noted
FILES_PER_RUN = 500
"""Files one inbox run takes: with 10,000 waiting, the daily inactivity run still starts within
one such run (then the inbox runs again)."""


def run_job(config: Config, rolemap: RoleMap, name: str, stop: threading.Event | None = None) -> bool:
    """One scheduled run; never raises (the daemon must outlive a failing run). Return True if an
    inbox run left files for the next one (it takes at most FILES_PER_RUN)."""
    if stop is not None and stop.is_set():
        return False  # stopping: a run queued behind the last one does not start
    if name == "inbox" and not Inbox(config.paths.inbox, config.paths.work).pending():
        return False  # nothing waits: no need to connect
    try:
        with open_runtime(config, rolemap, parse_as_of(None), wait=float("inf"),
                          stop=stop.is_set if stop is not None else lambda: False) as rt:
            outcome = run_steps(rt, *JOBS[name], files=FILES_PER_RUN)
            log.info("run_done", job=name, summary=outcome.lines(), ldap_operations=dict(rt.directory.stats))
            if outcome.failure is not None:
                raise outcome.failure
            if outcome.brake:
                log.error("safety_brake", job=name, why=outcome.brake)
            return any(isinstance(step.summary, InboxSummary) and step.summary.left for step in outcome.steps)
    except MopldapError as exc:
        log.error("run_failed", job=name, error=exc.message, retry="at the next scheduled time")
    except Exception:  # a bug: keep the traceback in the log, keep the daemon alive
        log.exception("run_crashed", job=name)
    return False


class Daemon:
    def __init__(self, config: Config, rolemap: RoleMap, stop: threading.Event,
                 signals: list[int] | None = None) -> None:
        self.config = config
        self.rolemap = rolemap
        self.stop = stop
        self.signals = signals if signals is not None else []  # appended to by the signal handler
        # coalesce: missed times run once; misfire_grace_time None: a late job still runs
        self.scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(max_workers=1)},
                                             job_defaults={"max_instances": 1, "coalesce": True,
                                                           "misfire_grace_time": None})
        self.scheduler.add_listener(self._on_skip, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self._running: set[str] = set()
        self._queued = False  # an inbox run the watcher asked for has not started yet
        self._again = threading.Event()  # the last inbox run left files
        self._lock = threading.Lock()
        self.me = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.holding = threading.Event()  # we hold the lease: jobs run
        self.lease_deadline = 0.0  # monotonic time the lease was last renewed until
        self._lease_stop = threading.Event()  # set once the scheduler has stopped
        self._first_round = threading.Event()
        self.lease_dn = f"cn=daemon-lease,{Layout(config.ldap.base_dn).services}"

    def keep_lease(self) -> None:
        """Take the lease, renew it three times per period, or stand by; give it up once the
        scheduler has stopped (after the run in progress: never while a job still runs)."""
        seconds = self.config.daemon.lease_seconds
        skew = dt.timedelta(seconds=self.config.reconcile.clock_skew_seconds)
        directory: Directory | None = None
        shown: tuple[bool, str | None] | None = None
        while True:
            asked = time.monotonic()
            try:
                if directory is None:  # always on the first provider: two daemons split between two
                    # providers (a network partition) must not each find a lease of their own
                    directory = Directory(self.config.ldap, url=self.config.ldap.providers[0]).connect()
                state = take_or_renew(directory, self.lease_dn, self.me, dt.datetime.now(dt.timezone.utc),
                                      seconds, skew)
                held, holder = state.held, state.holder
            except Exception as exc:  # noqa: BLE001 - the lease thread must outlive anything
                log.warning("lease_unknown", error=getattr(exc, "message", repr(exc)),
                            why="no job starts until the lease is known again")
                held, holder = False, None
                if directory is not None:
                    directory.close()
                    directory = None
            if held:  # counted from when we asked: a slow answer leaves less of it
                self.lease_deadline = asked + seconds
                taken_over = not self.holding.is_set() and shown is not None
                self.holding.set()
                if taken_over:
                    self._catch_up()  # what the other daemon may not have run
            else:
                self.holding.clear()
            if shown != (held, holder):
                shown = (held, holder)
                if held:
                    log.info("lease_held", holder=self.me, lease_seconds=seconds)
                else:
                    log.info("standing_by", holder=holder, me=self.me,
                             why="another daemon holds the lease; taking over when it expires")
            self._first_round.set()
            if self._lease_stop.wait(max(1.0, seconds / 3)):
                break
        if directory is not None:
            if self.holding.is_set():
                try:
                    release(directory, self.lease_dn, self.me, dt.datetime.now(dt.timezone.utc))
                except MopldapError:
                    pass  # it expires on its own
            directory.close()

    def holds_lease(self) -> bool:
        """Do we hold the lease now (renewed, and not past the time it was renewed for)?"""
        return self.holding.is_set() and time.monotonic() < self.lease_deadline

    def _catch_up(self) -> None:
        """After taking the lease over: run every job once now, so that a scheduled time that fell
        while the lease changed hands (the daily inactivity run) is not lost. Each is idempotent."""
        log.info("catching_up", why="took the lease over: each job runs once now")
        now = dt.datetime.now(dt.timezone.utc)
        for name in JOBS:
            if self.scheduler.get_job(name) is not None:
                self.scheduler.modify_job(name, next_run_time=now)

    def _job(self, name: str) -> None:
        with self._lock:
            if name == "inbox":
                self._queued = False
            if not self.holds_lease():
                log.debug("run_not_ours", job=name, why="standing by: we do not hold the lease")
                return
            self._running.add(name)
        try:
            if run_job(self.config, self.rolemap, name, self.stop):
                self._again.set()  # files left (FILES_PER_RUN): the watcher starts the next run
        finally:
            with self._lock:
                self._running.discard(name)

    def _on_skip(self, event: JobEvent) -> None:
        job = self.scheduler.get_job(event.job_id)
        upcoming = job.next_run_time.isoformat() if job is not None and job.next_run_time else None
        log.warning("run_skipped", job=event.job_id, next_run=upcoming,
                    why="its previous run is still waiting for the worker or running")

    def watch_inbox(self) -> None:
        """Start an inbox run as soon as a file arrives (the folder's mtime changes and a file waits),
        or as soon as the last one left files behind."""
        inbox = Inbox(self.config.paths.inbox, self.config.paths.work)
        seen = None
        while not self.stop.wait(WATCH_SECONDS):
            try:
                stamp = (os.stat(inbox.inbox).st_mtime_ns, os.stat(inbox.processing).st_mtime_ns
                         if inbox.processing.exists() else 0)
            except OSError:
                continue
            if stamp == seen and not self._again.is_set():
                continue
            with self._lock:
                if "inbox" in self._running or self._queued:
                    continue
                self._again.clear()
                seen = stamp
                if not inbox.pending():
                    continue
                self._queued = True
            self.scheduler.modify_job("inbox", next_run_time=dt.datetime.now(dt.timezone.utc))

    def run(self) -> int:
        lease = threading.Thread(target=self.keep_lease, name="lease", daemon=True)
        lease.start()
        self._first_round.wait(self.config.ldap.timeout * 2 + 5)
        for name in JOBS:
            trigger: CronTrigger = cron_trigger(getattr(self.config.schedule, name))
            self.scheduler.add_job(self._job, trigger, args=(name,), id=name, name=name)
        self.scheduler.start()
        watcher = threading.Thread(target=self.watch_inbox, name="inbox-watch", daemon=True)
        watcher.start()
        log.info("daemon_started", schedule=asdict(self.config.schedule))
        print("daemon: running; SIGTERM or Ctrl-C stops it after the run in progress", flush=True)
        while not self.stop.is_set() and not self.signals:
            time.sleep(STOP_POLL_SECONDS)  # not stop.wait(): see run_daemon
        if self.signals:
            log.info("daemon_stopping", signal=signal.Signals(self.signals[0]).name,
                     why="finishing the run in progress")
            self.stop.set()  # the watcher and a run waiting for the run lock stop too
        self.scheduler.shutdown(wait=True)  # the run in progress finishes, under the lease
        watcher.join(5)
        self._lease_stop.set()
        lease.join(self.config.ldap.timeout + 5)  # gives the lease up
        log.info("daemon_stopped")
        print("daemon: stopped", flush=True)
        return 0


def run_daemon(config: Config, rolemap: RoleMap, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or until `stop` is set, when given); return 0."""
    received: list[int] = []
    if stop is None:
        stop = threading.Event()

        def _stop(signum: int, frame: object) -> None:
            # a note and nothing else: the handler runs in the main thread wherever it was, and
            # stop.set() would wait for the lock it may hold inside stop.wait() (forever), a log
            # line could re-enter the stream it was writing. Daemon.run reads the note.
            received.append(signum)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    check_folders(trusted_folders(config))  # refuse to start on folders it could not trust
    return Daemon(config, rolemap, stop, received).run()
