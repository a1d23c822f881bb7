"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def own_cache_folder(tmp_path_factory) -> None:
    """mopldap leaves hints in the user's cache folder (files/checked.py): the tests' go to theirs,
    not to the home of whoever runs them; the commands they spawn inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def project_root() -> Path:
    return ROOT
