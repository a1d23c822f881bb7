"""Files made durable together (files/together.py): what is removed after a flush goes only after it."""

from __future__ import annotations

import os
import stat

import pytest

import mopldap.files.together as together
from mopldap.files.together import Together
from mopldap.model.errors import LocalFilesError


def test_files_are_in_place_with_their_mode_and_what_they_replace_goes_after_the_flush(tmp_path):
    claimed = tmp_path / "claimed.yaml"
    claimed.write_text("request")
    files = Together()
    result = files.write(tmp_path / "out" / "r.result.yaml", "status: applied\n", 0o640)
    files.after(claimed.unlink)
    assert result.read_text() == "status: applied\n" and stat.S_IMODE(result.stat().st_mode) == 0o640
    assert claimed.exists()  # not before the flush
    files.sync()
    assert not claimed.exists()


def test_without_syncfs_each_file_and_its_folder_is_fsynced_before_anything_is_removed(tmp_path, monkeypatch):
    events = []
    fsync = os.fsync
    monkeypatch.setattr(together, "_syncfs", lambda: None)
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(os.readlink(f"/proc/self/fd/{fd}")), fsync(fd)))
    files = Together()
    a = files.write(tmp_path / "a", "a")
    b = files.write(tmp_path / "sub" / "b", "b")
    files.after(lambda: events.append("removed"))
    files.sync()
    assert events == [str(a), str(b), str(tmp_path), str(tmp_path / "sub"), "removed"]


def test_a_write_error_at_the_flush_is_one_line_and_nothing_is_removed(tmp_path, monkeypatch):
    def failing(files):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(together, "_sync_file_system", failing)
    removed = []
    files = Together()
    files.write(tmp_path / "a", "a")
    files.after(lambda: removed.append(1))
    with pytest.raises(LocalFilesError) as caught:
        files.sync()
    assert str(caught.value).startswith(f"{tmp_path}: cannot write: No space left on device; mopldap stopped")
    assert removed == []


def test_syncfs_is_found_on_linux():
    assert together._syncfs() is not None
