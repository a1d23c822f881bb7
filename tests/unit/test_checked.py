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


def in_a_new_process(path: Path) -> str:
    """What a new process loads, and whether it imported pydantic to do so."""
    code = ("import sys; from pathlib import Path; from mopldap.files.checked import load_checked; "
            f"config, rolemap = load_checked(Path({str(path)!r})); "
            "print(config.ldap.base_dn, config.inactivity.max_idle_days, sorted(rolemap.roles)[0], "
            "'pydantic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


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
