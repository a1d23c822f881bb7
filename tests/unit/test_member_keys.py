"""The keys a full reconcile holds for members in place of their DNs (plan/reconcile.py member_key).

Two DNs with one key would let one stand for the other in a run: the key must be secret and new
in every process, so that nobody can choose a DN (a username) that collides with another's."""

from __future__ import annotations

import subprocess
import sys

import pytest

DN = "uid=zhangsan,ou=p001,ou=partners,dc=example,dc=com"


def keys_in_a_new_process(seed: str | None) -> tuple[int, int]:
    env = {"PYTHONHASHSEED": seed} if seed is not None else {}
    code = ("from mopldap.plan.reconcile import member_key as k; "
            f"print(k({DN!r}), k({DN.replace('zhangsan', 'lisi')!r}), k(''.join({DN!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", **env}).stdout.split()
    first, other, again = map(int, out)
    assert again == first and other != first  # the same DN, built anew: the same key; another DN: another
    return first, other


@pytest.mark.parametrize("seed", [None, "random", "0", "12345"])
def test_a_dn_gets_another_key_in_every_process_even_where_pythons_own_hash_is_fixed(seed):
    assert keys_in_a_new_process(seed) != keys_in_a_new_process(seed)
