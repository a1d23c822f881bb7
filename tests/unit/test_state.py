"""The run state's record of the last inactivity check: anything but a zoned time means "check again"."""

from __future__ import annotations

import datetime as dt

import pytest

from mopldap.files.state import RunState, load_state, save_state


@pytest.mark.parametrize("value", [None, "", "yesterday", "2026-12-03T10:00:00", 12])
def test_a_check_time_that_is_not_a_zoned_time_is_no_check(value):
    assert RunState(inactivity_checked=value).inactivity_checked_time() is None


def test_the_last_check_and_its_settings_survive_a_save(tmp_path):
    path = tmp_path / "state.json"
    save_state(path, RunState("dc=example,dc=com", "r", inactivity_checked="2026-12-03T10:00:00+00:00",
                              inactivity_settings="abc"))
    state = load_state(path)
    assert state.inactivity_checked_time() == dt.datetime(2026, 12, 3, 10, tzinfo=dt.timezone.utc)
    assert state.inactivity_settings == "abc"
