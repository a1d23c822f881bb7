"""Files flushed together (files/together.py): one syncfs for a batch, what they replace removed
only after it, a flush error reported and nothing removed."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import stat
import sys
from pathlib import Path

import pytest

import mopldap.files.together as together
from mopldap.files.together import SYNCFS_FROM, FlushedTogether
from mopldap.model.errors import LocalFilesError



def test_syncfs_is_there_on_the_supported_systems():
    """mopldap runs on Debian (Linux 5.8 or later): syncfs must be found there, or every batch
    falls back to one fsync a file and the tests below would measure that instead."""
    assert sys.platform.startswith("linux") and together._syncfs() is not None, "syncfs(2) not found"


@pytest.fixture
def flushes(monkeypatch) -> list[str]:
    """What reaches the disk from now on, in order: "syncfs", or the name of a file or folder fsync'd."""
    events: list[str] = []
    fsync, syncfs = os.fsync, together._syncfs()

    def counted_syncfs(fd: int) -> int:
        events.append("syncfs")
        return syncfs(fd)

    def counted_fsync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")  # the temporary file, renamed into place after
        events.append(re.sub(r"/\.([^/]+)\.[0-9a-f]{8}\.tmp$", r"/\1", name))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", counted_fsync)
    monkeypatch.setattr(together, "_syncfs", lambda: counted_syncfs)
    return events


def durable(path: Path) -> list[str]:
    """A file made durable alone: its data, then its folder (the rename)."""
    return [str(path), str(path.parent)]


def test_a_batch_s_files_are_flushed_with_one_syncfs_and_what_they_replace_goes_after(tmp_path, flushes):
    claimed = tmp_path / "claimed.yaml"
    claimed.write_text("request")
    with FlushedTogether(SYNCFS_FROM) as files:
        written = [files.write(tmp_path / ("outbox" if i % 2 else "archive") / f"f{i}", f"{i}\n", 0o640)
                   for i in range(SYNCFS_FROM)]
        files.after(claimed.unlink)
        files.after(lambda: flushes.append("removed"))
        assert claimed.exists() and flushes == []  # nothing before the flush
        files.sync()
    assert flushes == ["syncfs", "removed"] and not claimed.exists()
    assert [p.read_text() for p in written] == [f"{i}\n" for i in range(SYNCFS_FROM)]
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o640}


def test_one_request_s_files_are_fsynced_one_by_one_as_they_are_written(tmp_path, flushes):
    with FlushedTogether(SYNCFS_FROM - 1) as files:
        written = [files.write(tmp_path / f"f{i}", "x") for i in range(SYNCFS_FROM - 1)]
        files.after(lambda: flushes.append("removed"))
        files.sync()
    assert flushes == [*(name for p in written for name in durable(p)), "removed"]


def test_a_file_that_replaces_one_is_fsynced_before_it_does(tmp_path, flushes):
    """A journal or result written again: the one on the disk stays until the new one is."""
    (tmp_path / "again").write_text("old")
    with FlushedTogether(SYNCFS_FROM) as files:
        files.write(tmp_path / "again", "new")
        files.write(tmp_path / "fresh", "new")
        files.sync()
    assert flushes == [*durable(tmp_path / "again"), "syncfs"]


def test_where_syncfs_is_not_trusted_each_file_is_fsynced(tmp_path, flushes, monkeypatch):
    monkeypatch.setattr(together, "_local", lambda device: False)  # a FUSE or network file system
    with FlushedTogether(SYNCFS_FROM) as files:
        written = [files.write(tmp_path / f"f{i}", "x") for i in range(SYNCFS_FROM)]
        files.sync()
    assert flushes == [name for p in written for name in durable(p)]


def test_a_write_error_at_the_flush_is_one_line_and_nothing_is_removed(tmp_path, monkeypatch):
    def failing(fd: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(together, "_syncfs", lambda: failing)
    removed = []
    with FlushedTogether(SYNCFS_FROM) as files:
        for i in range(SYNCFS_FROM):
            files.write(tmp_path / "outbox" / f"f{i}", "x")
        files.after(lambda: removed.append(1))
        with pytest.raises(LocalFilesError) as caught:
            files.sync()
    assert str(caught.value).startswith(f"{tmp_path / 'outbox'}: cannot write: Input/output error; mopldap stopped")
    assert removed == []


def test_the_folder_descriptors_are_closed_when_the_batch_is_done(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    with FlushedTogether(SYNCFS_FROM) as files:
        for i in range(SYNCFS_FROM):
            files.write(tmp_path / f"d{i}" / "f", "x")
        assert len(os.listdir("/proc/self/fd")) == before + 1  # one per file system
    assert len(os.listdir("/proc/self/fd")) == before
