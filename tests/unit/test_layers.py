"""The package's layers, as pyproject.toml's import-linter contracts state them (README, Development)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True)


def test_the_package_keeps_its_layers_and_has_no_import_cycles():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_a_plan_importing_a_run_or_a_cycle_between_modules_breaks_the_contracts(tmp_path):
    shutil.copytree(ROOT / "mopldap", tmp_path / "mopldap", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "mopldap" / "plan" / "reports.py", "a") as fh:
        fh.write("\nfrom ..ldap import directory  # noqa\n")
    with open(tmp_path / "mopldap" / "model" / "layout.py", "a") as fh:
        fh.write("\nfrom . import requests  # noqa\n")  # requests imports layout: a cycle
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0
    assert "mopldap.plan is not allowed to import mopldap.ldap" in proc.stdout
    assert "No cycles are allowed in mopldap.model" in proc.stdout
