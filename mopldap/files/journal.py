"""The journal of a claimed request: what its plan was, written before any of it is written.

A run that dies between writing a request's changes and recording its result leaves the
claimed file and this journal; the next run resumes from them: it plans the request again
against the directory as the first run left it, and reports what the first run had
planned and done (a delete already made is "done by the interrupted run", not a
rejection). `<paths.work>/processing/.<claimed name>.journal`, JSON, no password in it; on the
disk, with the other journals of its batch (together.py), before any of the batch is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .atomic import read_own
from .together import FlushedTogether

SUFFIX = ".journal"


def journal_path(claimed_path: Path) -> Path:
    return claimed_path.with_name(f".{claimed_path.name}{SUFFIX}")


def write_journal(claimed_path: Path, record: dict[str, Any], files: FlushedTogether) -> None:
    """Write the journal of a claimed request, durable with `files` (LocalFilesError, exit 4, if
    it cannot be written)."""
    files.write(journal_path(claimed_path), json.dumps(record, ensure_ascii=False, sort_keys=True), 0o600)


def read_journal(claimed_path: Path) -> dict[str, Any] | None:
    """The journal of a claimed request, or None if there is none (or it is unreadable: then the
    request is planned afresh, as one that had written nothing)."""
    try:
        data = json.loads(read_own(journal_path(claimed_path)))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("operations"), list) else None


def remove_journal(claimed_path: Path) -> None:
    journal_path(claimed_path).unlink(missing_ok=True)
