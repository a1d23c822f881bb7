"""Requests that come from a signed-in person (the console, the API) rather than a file: the same
pipeline as the inbox (validation, authorization, result in the outbox, archive, audit), with
`requested_by` set by the caller from the session, never from the request."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..files.atomic import read_own
from ..files.inbox import Inbox
from ..files.outbox import Outbox
from ..model.config import Config
from ..model.rolemap import RoleMap
from ..model.times import parse_as_of
from ..model.yamlfile import dump
from .inbox import process_claimed
from .runtime import open_runtime

_ONE_AT_A_TIME = threading.Lock()  # the run lock serialises processes; this, the threads of one


@dataclass
class Submitted:
    status: str  # applied | rejected | failed | duplicate
    result: dict[str, Any]
    passwords: dict[str, str] = field(default_factory=dict)  # generated ones: shown once, then gone


def submit_request(config: Config, rolemap: RoleMap, request: dict[str, Any], channel: str,
                   wait: float) -> Submitted:
    """Process one request now, as `mopldap apply` would a file named `<channel>-<request_id>.yaml`.

    The generated passwords are read back from the outbox's .secret file, which is then removed:
    the caller shows them once. (The pipeline writes that file before it writes the directory, so
    that a password is never lost if the process dies in between; it then stays in the outbox.)
    Raises what a run raises: RunBusy (another run past `wait`), DirectoryError, LocalFilesError.
    """
    name = f"{channel}-{request.get('request_id') or 'request'}.yaml"
    with _ONE_AT_A_TIME, open_runtime(config, rolemap, parse_as_of(None), wait=wait) as rt:
        claimed = Inbox(config.paths.inbox, config.paths.work).hand_in(name, dump(request))
        processor = process_claimed(rt, claimed)
    status = processor.statuses.get(claimed.name, "failed")
    result_path = processor.summary.results[-1] if processor.summary.results else None
    try:
        result = yaml.safe_load(read_own(result_path)) if result_path else None
    except (OSError, ValueError, yaml.YAMLError):
        result = None
    result = result if isinstance(result, dict) else {"status": status}
    passwords: dict[str, str] = {}
    rid = result.get("request_id")
    if status != "duplicate" and isinstance(rid, str):
        outbox = Outbox(config.paths.outbox)
        passwords = outbox.read_secrets(rid)
        if passwords:
            outbox.forget_secrets(rid)
            _say_shown(result, rid)
            outbox.write_result(rid, result)  # the outbox's copy says where the passwords went, too
    return Submitted(status, result, passwords)


def _say_shown(result: dict[str, Any], request_id: str) -> None:
    """The result no longer points at the .secret file: its passwords go to the requester only."""
    result.pop("secrets", None)
    note = f"generated password in {request_id}.secret"
    for op in result.get("operations") or []:
        if isinstance(op, dict) and isinstance(op.get("message"), str):
            op["message"] = op["message"].replace(note, "generated password shown once to the requester, stored nowhere")
