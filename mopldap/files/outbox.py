"""The outbox: one result document per request, and the generated passwords of a request.

- `<request_id>.result.yaml` (or `<name>.result.yaml` for a file without a usable id);
- `<request_id>.secret` (0600): the passwords mopldap generated for the request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..model.yamlfile import dump
from .atomic import read_own
from .together import FlushedTogether


class Outbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def result_path(self, request_id: str) -> Path:
        return self.folder / f"{request_id}.result.yaml"

    def write_result(self, name: str, result: dict[str, Any], files: FlushedTogether) -> Path:
        """Write a result, durable with `files`."""
        return files.write(self.folder / f"{name}.result.yaml", dump(result))

    def last_status(self, request_id: str) -> str | None:
        """The status of the last result written for `request_id`, if any."""
        path = self.result_path(request_id)
        try:
            return (yaml.safe_load(read_own(path)) or {}).get("status")
        except (OSError, ValueError, yaml.YAMLError, AttributeError):
            return None

    def read_secrets(self, request_id: str) -> dict[str, str]:
        """The passwords generated for a request so far (username -> password), if any."""
        try:
            known = yaml.safe_load(read_own(self.folder / f"{request_id}.secret"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            return {}
        return {str(k): str(v) for k, v in known.items()} if isinstance(known, dict) else {}

    def forget_secrets(self, request_id: str) -> None:
        """Remove <request_id>.secret once its passwords were shown (the console, the API)."""
        (self.folder / f"{request_id}.secret").unlink(missing_ok=True)

    def write_secrets(self, request_id: str, secrets: dict[str, str], files: FlushedTogether) -> Path:
        """Merge generated passwords into <request_id>.secret (0600), durable with `files`."""
        known = self.read_secrets(request_id)
        known.update(secrets)
        return files.write(self.folder / f"{request_id}.secret", dump(dict(sorted(known.items()))), 0o600)
