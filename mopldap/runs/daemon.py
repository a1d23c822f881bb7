"""`mopldap daemon`: the sync steps on cron schedules (APScheduler), until SIGTERM or SIGINT.

- One worker thread: runs never overlap. A job whose next time comes while it is
  still running is skipped, and the skip is logged.
- Each run connects, runs its step with its own run id, and disconnects; a
  directory outage fails that run (logged) and the next one tries again.
- SIGTERM/SIGINT: no new run starts; the run in progress finishes; exit 0.
"""

from __future__ import annotations

import signal
import threading

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from ..files.inbox import Inbox
from ..model.config import Config
from ..model.cron import cron_trigger
from ..model.errors import MopldapError
from ..model.rolemap import RoleMap
from ..model.times import parse_as_of
from .runtime import open_runtime
from .sync import run_steps

log = structlog.get_logger(__name__)
JOBS = {"inbox": (True, False, False), "reconcile": (False, True, False), "inactivity": (False, False, True)}


def run_job(config: Config, rolemap: RoleMap, name: str) -> None:
    """One scheduled run; never raises (the daemon must outlive a failing run)."""
    if name == "inbox" and not Inbox(config.paths.inbox).pending():
        return  # nothing waits: no need to connect
    try:
        with open_runtime(config, rolemap, parse_as_of(None)) as rt:
            lines, brake = run_steps(rt, *JOBS[name])
            log.info("run_done", job=name, summary=lines, ldap_operations=dict(rt.directory.stats))
            if brake:
                log.error("safety_brake", job=name, why=brake)
    except MopldapError as exc:
        log.error("run_failed", job=name, error=exc.message, retry="at the next scheduled time")
    except Exception:  # a bug: keep the traceback in the log, keep the daemon alive
        log.exception("run_crashed", job=name)


def _on_skip(event: JobEvent) -> None:
    log.warning("run_skipped", job=event.job_id,
                why="the previous run of this job is still going (or the worker is busy)")


def run_daemon(config: Config, rolemap: RoleMap, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or until `stop` is set, when given); return 0."""
    if stop is None:
        stop = threading.Event()

        def _stop(signum: int, frame: object) -> None:
            log.info("daemon_stopping", signal=signal.Signals(signum).name, why="finishing the run in progress")
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(max_workers=1)},
                                    job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 30})
    scheduler.add_listener(_on_skip, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    for name in JOBS:
        trigger: CronTrigger = cron_trigger(getattr(config.schedule, name))
        scheduler.add_job(run_job, trigger, args=(config, rolemap, name), id=name, name=name)
    scheduler.start()
    log.info("daemon_started", schedule=config.schedule.model_dump())
    print("daemon: running; SIGTERM or Ctrl-C stops it after the run in progress", flush=True)
    while not stop.wait(1):
        pass
    scheduler.shutdown(wait=True)
    log.info("daemon_stopped")
    print("daemon: stopped", flush=True)
    return 0
