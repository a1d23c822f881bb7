"""The settings as last checked (mopldap/files/checked.py): read back without pydantic while the
files are unchanged, validated again the moment either changes, and never taken from a file that
is not mopldap's own snapshot."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mopldap.files.checked import HEADER, NAME, load_checked
from mopldap.files.hints import hint_name
from mopldap.model.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """The shipped config and role map in a folder of their own, its work folder made."""
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(ROOT / "config" / "mopldap.yaml", config)
    shutil.copy(ROOT / "config" / "roles.yaml", config)
    (tmp_path / "var" / "work").mkdir(parents=True, mode=0o700)
    return config / "mopldap.yaml"


def snapshot(path: Path) -> Path:
    return path.parent.parent / "var" / "work" / NAME


def in_a_new_process(path: Path, parsed: list[bool] | None = None) -> str:
    """What a new process loads, and whether it imported pydantic to do so (into `parsed`, if
    given: whether it imported PyYAML)."""
    code = ("import sys; from pathlib import Path; from mopldap.files.checked import load_checked; "
            f"config, rolemap = load_checked(Path({str(path)!r})); "
            "print(config.ldap.base_dn, config.inactivity.max_idle_days, sorted(rolemap.roles)[0], "
            "'pydantic' in sys.modules, 'yaml' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    *seen, yaml_loaded = done.stdout.split()
    if parsed is not None:
        parsed.append(yaml_loaded == "True")
    return " ".join(seen)


def test_unchanged_files_are_read_back_without_pydantic(files):
    assert in_a_new_process(files) == "dc=example,dc=com 30 hotline-specialist True"  # validated, kept
    assert snapshot(files).read_bytes().startswith(HEADER)
    assert oct(snapshot(files).stat().st_mode & 0o777) == "0o600"
    assert in_a_new_process(files) == "dc=example,dc=com 30 hotline-specialist False"
    config, rolemap = load_checked(files)
    assert config.paths.inbox == (files.parent / ".." / "var" / "inbox").resolve()
    assert rolemap.granted_systems(["sales-specialist"]) == {"community", "mop-sales"}


def test_a_config_reached_through_a_link_and_writable_by_its_group_is_read_back_too(files):
    """Only the snapshot must be mopldap's own: the config may be a link into a configuration
    management tree, owned by root and shared with a group."""
    real = files.with_name("managed.yaml")
    files.rename(real)
    files.symlink_to(real.name)
    real.chmod(0o664)
    assert in_a_new_process(files).endswith(" True")
    assert in_a_new_process(files) == "dc=example,dc=com 30 hotline-specialist False"


def test_a_changed_config_or_role_map_is_validated_again(files):
    load_checked(files)
    files.write_text(files.read_text().replace("max_idle_days: 30", "max_idle_days: 45"))
    assert in_a_new_process(files) == "dc=example,dc=com 45 hotline-specialist True"
    roles = files.with_name("roles.yaml")
    roles.write_text(roles.read_text().replace("hotline-specialist", "a-hotline-specialist"))
    assert in_a_new_process(files) == "dc=example,dc=com 45 a-hotline-specialist True"
    files.write_text(files.read_text().replace("max_idle_days: 45", "max_idle_days: none"))
    with pytest.raises(ConfigError, match="max_idle_days"):
        load_checked(files)  # never the settings checked before


class Planted:
    def __reduce__(self):
        return (os.system, ("touch planted",))


@pytest.mark.parametrize("how", ["foreign pickle", "link", "group-writable", "garbage"])
def test_anything_but_mopldaps_own_snapshot_is_ignored(files, tmp_path, how):
    load_checked(files)
    kept = snapshot(files)
    if how == "foreign pickle":  # the right header and digest, a pickle that would run a command
        head = kept.read_bytes().split(b"\n", 1)[0]
        kept.write_bytes(head + b"\n" + pickle.dumps(Planted()))
    elif how == "link":
        real = tmp_path / "elsewhere"
        kept.rename(real)
        kept.symlink_to(real)
    elif how == "group-writable":
        kept.chmod(0o620)
    else:
        kept.write_bytes(HEADER + b"\x80\x05garbage")
    assert in_a_new_process(files) == "dc=example,dc=com 30 hotline-specialist True"
    assert not (ROOT / "planted").exists()


def test_without_a_work_folder_nothing_is_kept(files):
    shutil.rmtree(files.parent.parent / "var")
    config, _ = load_checked(files)
    assert config.inactivity.max_idle_days == 30
    assert not (files.parent.parent / "var").exists()  # `mopldap init` makes the folders, not a read


def test_the_snapshot_lives_in_the_configured_work_folder(files):
    elsewhere = files.parent.parent / "state" / "work"
    elsewhere.mkdir(parents=True, mode=0o700)
    files.write_text(files.read_text().replace("  work: ../var/work", "  work: ../state/work"))
    in_a_new_process(files)
    assert (elsewhere / NAME).is_file() and not snapshot(files).exists()
    assert in_a_new_process(files).endswith(" False")


def hint_path(config: Path) -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "mopldap" / hint_name(config)


def work_of(config: Path) -> bytes:
    return os.fsencode(config.parent.parent.resolve() / "var" / "work")


def test_the_next_command_finds_the_work_folder_by_its_hint_without_parsing_yaml(files):
    parsed: list[bool] = []
    in_a_new_process(files, parsed)
    hint = hint_path(files)
    assert hint.read_bytes() == work_of(files)
    assert oct(hint.stat().st_mode & 0o777) == "0o600" and oct(hint.parent.stat().st_mode & 0o777) == "0o700"
    assert in_a_new_process(files, parsed) == "dc=example,dc=com 30 hotline-specialist False"
    assert parsed == [True, False]


@pytest.mark.parametrize("how", ["another configuration's work folder", "a relative path", "a NUL byte",
                                 "a link to a right one", "group-writable", "a copy of the snapshot"])
def test_a_hint_that_leads_elsewhere_only_costs_the_yaml(files, tmp_path, how):
    """A hint names a place to look, nothing more: it must be this user's own file, no link, and
    what is found where it points must be a snapshot of these very files, which put their work
    folder there; otherwise the YAML says where, and the hint is mended."""
    other = tmp_path / "other"
    shutil.copytree(files.parent, other / "config")
    (other / "var" / "work").mkdir(parents=True, mode=0o700)
    (other / "config" / "mopldap.yaml").write_text(files.read_text().replace("max_idle_days: 30", "max_idle_days: 60"))
    in_a_new_process(other / "config" / "mopldap.yaml")
    in_a_new_process(files)
    hint = hint_path(files)
    if how == "another configuration's work folder":
        hint.write_bytes(os.fsencode(other / "var" / "work"))
    elif how == "a relative path":
        hint.write_bytes(b"var/work")
    elif how == "a NUL byte":
        hint.write_bytes(work_of(files) + b"\0")
    elif how == "a link to a right one":
        (tmp_path / "right").write_bytes(work_of(files))
        hint.unlink()
        hint.symlink_to(tmp_path / "right")
    elif how == "group-writable":
        hint.chmod(0o620)
    else:  # the same files' snapshot, copied: its digest matches, but the config puts its work folder elsewhere
        copy = tmp_path / "copy"
        copy.mkdir(mode=0o700)
        shutil.copy2(snapshot(files), copy / NAME)
        hint.write_bytes(os.fsencode(copy))
    parsed: list[bool] = []
    assert in_a_new_process(files, parsed) == "dc=example,dc=com 30 hotline-specialist False"
    assert in_a_new_process(files, parsed) == "dc=example,dc=com 30 hotline-specialist False"
    assert parsed == [True, False]
    assert not hint.is_symlink() and hint.read_bytes() == work_of(files)
    assert oct(hint.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("how", ["a link", "group-writable", "another user's cache folder", "a relative HOME"])
def test_a_hint_folder_someone_could_steer_is_neither_read_nor_written(files, tmp_path, monkeypatch, how):
    """Root running a command with another user's HOME (sudo -E) must not write into a folder that
    user chose: the cache folder must be this user's, and its mopldap folder this user's, no link,
    writable by no one else."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    target = tmp_path / "target"
    target.mkdir()
    if how == "a link":
        (cache / "mopldap").symlink_to(target)
    elif how == "group-writable":
        (cache / "mopldap").mkdir()
        (cache / "mopldap").chmod(0o770)
        target = cache / "mopldap"
    elif how == "another user's cache folder":
        if os.geteuid() == 0:
            os.chown(cache, 65534, 65534)  # nobody's
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", "/usr")  # root's
        target = cache
    else:
        monkeypatch.delenv("XDG_CACHE_HOME")
        monkeypatch.setenv("HOME", "relhome")  # relative to wherever the command runs: ignored
        target = ROOT / "relhome"
    parsed: list[bool] = []
    assert in_a_new_process(files, parsed) == "dc=example,dc=com 30 hotline-specialist True"
    assert in_a_new_process(files, parsed) == "dc=example,dc=com 30 hotline-specialist False"
    assert parsed == [True, True]  # the YAML says where the work folder is, every time
    assert not target.exists() or not [p for p in target.rglob("*") if p.name.startswith(("work-", ".work-", "mopldap"))]


def test_without_a_cache_folder_the_settings_are_still_read_back(files, tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    parsed: list[bool] = []
    assert in_a_new_process(files, parsed) == "dc=example,dc=com 30 hotline-specialist True"
    assert in_a_new_process(files, parsed) == "dc=example,dc=com 30 hotline-specialist False"
    assert parsed == [True, True]  # the YAML says where the work folder is, every time
