"""`mopldap request status ID`: where a request is — waiting in the inbox, being applied, or done."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import yaml

from ..files.atomic import read_own
from ..files.inbox import Inbox
from ..files.journal import read_journal
from ..model.config import Config
from ..model.errors import ConfigError
from ..model.requests import REQUEST_ID_PATTERN
from ..model.yamlfile import YamlDocument, parse_yaml


def _request_id(path: Path) -> str | None:
    """The request_id a file names, if it can be read at all."""
    text, _ = Inbox.read(path)
    if text is None:
        return None
    try:
        doc: YamlDocument = parse_yaml(text, path.name)
    except ConfigError:
        return None
    value = doc.data.get("request_id") if isinstance(doc.data, dict) else None
    return value if isinstance(value, str) else None


def _since(path: Path) -> str:
    try:
        moment = dt.datetime.fromtimestamp(os.lstat(path).st_mtime, dt.timezone.utc)
    except OSError:
        return "?"
    return moment.replace(microsecond=0).isoformat()


def request_status(config: Config, request_id: str) -> list[str]:
    """One line per place the request is found (none: unknown)."""
    inbox = Inbox(config.paths.inbox, config.paths.work)
    lines = []
    for path, resumed in inbox.pending():
        if _request_id(path) != request_id:
            continue
        if resumed:
            journal = read_journal(path)
            started = f" by run {journal['run_id']}" if journal else ""
            lines.append(f"being applied{started}, claimed {_since(path)} ({path})")
        else:
            lines.append(f"waiting in the inbox since {_since(path)} ({path.name})")
    result = config.paths.outbox / f"{request_id}.result.yaml"
    try:
        data = yaml.safe_load(read_own(result))
    except (OSError, ValueError, yaml.YAMLError):
        data = None
    if isinstance(data, dict):
        lines.append(f"done: {data.get('status')} at {data.get('processed_at')} (run {data.get('run_id')}); "
                     f"result in {result}")
        lines += [f"  {problem}" for problem in data.get("problems") or []]
        lines += [f"  operations[{op.get('index')}] {op.get('op')} {op.get('target')}: {op.get('result')}: "
                  f"{op.get('message')}" for op in data.get("operations") or [] if isinstance(op, dict)]
    return lines


def run_request_status(config: Config, request_id: str) -> int:
    """Print where the request is; exit 0 when found, 1 when no such request is known."""
    if not REQUEST_ID_PATTERN.fullmatch(request_id):
        raise ConfigError(f"request status: '{request_id}' is not a request id (letters, digits, '.', '_', '-')")
    lines = request_status(config, request_id)
    if not lines:
        raise ConfigError(f"request {request_id}: unknown (not in the inbox, not being applied, no result in "
                          f"{config.paths.outbox})")
    print(f"request {request_id}:")
    for line in lines:
        print(f"  {line}")
    return 0
