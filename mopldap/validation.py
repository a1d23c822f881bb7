"""`mopldap validate`: check the configuration, role map and request files offline."""

from __future__ import annotations

from pathlib import Path

from .config import load_settings
from .errors import ConfigError


def run_validate(config_path: Path, requests: list[Path]) -> int:
    """Print 'ok' lines or one line per problem; exit 1 if anything is wrong."""
    config, rolemap = load_settings(config_path)
    print(f"ok: {config.source}")
    print(f"ok: {config.paths.role_map} ({len(rolemap.roles)} roles, {len(rolemap.systems)} systems)")
    if requests:
        raise ConfigError("validate: request files are checked once requests are implemented")
    return 0
