"""Password values replaced by a marker: in parsed request data, and in the text of a file
that could not be parsed (so an archive copy or an error never shows a password)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

SECRET_KEYS = ("initial_password", "new_password")
REDACTED = "<redacted>"
_SECRET_KEY = re.compile(r"^(\s*(?:-\s+)?)([\"']?(?:initial_password|new_password)[\"']?\s*:)")
_SECRET_INLINE = re.compile(r"((?:initial_password|new_password)[\"']?\s*:\s*)(\"[^\"]*\"|'[^']*'|[^,}\s]+)")


def redact(data: Any) -> Any:
    """Return a copy of request data with every password value replaced by '<redacted>'."""
    if isinstance(data, dict):
        return {k: (REDACTED if k in SECRET_KEYS and v is not None else redact(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(item) for item in data]
    return data


def redact_lines(lines: Iterable[str]) -> Iterator[str]:
    """Yield the lines of a file that could not be parsed, password values redacted: a value on
    the key's line, in a flow mapping, or on the lines below it (a block scalar, a continued
    plain scalar) is replaced by <redacted>."""
    skip_below = None  # the key's column while its value's continuation lines are dropped
    for line in lines:
        body = line.rstrip("\n")
        if skip_below is not None:
            stripped = body.lstrip()
            if not stripped or len(body) - len(stripped) > skip_below:
                continue
            skip_below = None
        match = _SECRET_KEY.match(body)
        if match:
            yield f"{match.group(1)}{match.group(2)} {REDACTED}\n"
            skip_below = len(match.group(1))
            continue
        yield _SECRET_INLINE.sub(lambda m: m.group(1) + REDACTED, body) + "\n"


def redact_file_text(text: str) -> str:
    """Redact password values in the text of a file whose YAML could not be trusted."""
    return "".join(redact_lines(text.splitlines()))
