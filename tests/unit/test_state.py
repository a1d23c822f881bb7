"""The run state's record of the last inactivity check, and when `sync` checks again."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from mopldap.files.state import RunState, check_due, load_state, save_state
from mopldap.model.config import load_settings
from mopldap.runs.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
NOON = dt.datetime(2026, 12, 3, 12, tzinfo=dt.timezone.utc)


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


@pytest.mark.parametrize("checked, every, due", [
    (None, 1, True),                                    # never checked
    (NOON, 1, False),                                   # checked this very moment
    (NOON - dt.timedelta(minutes=59), 1, False),
    (NOON - dt.timedelta(hours=1), 1, True),            # exactly the period ago
    (NOON + dt.timedelta(seconds=1), 1, True),          # after now: a clock set back, an --as-of run
    (NOON, 0, True),                                    # 0: every sync
    (NOON - dt.timedelta(hours=23), 24, False),
])
def test_a_check_is_due_after_its_period_or_when_it_lies_in_the_future(checked, every, due):
    assert check_due(checked, NOON, every) is due


def runtime(state: RunState | None, **inactivity) -> Runtime:
    config, rolemap = load_settings(ROOT / "config" / "mopldap.yaml")
    config = replace(config, inactivity=replace(config.inactivity, **inactivity))
    return Runtime(config, rolemap, None, None, "run", NOON, state=state)


def test_a_check_with_other_settings_does_not_count_and_the_period_alone_is_no_setting():
    first = runtime(None)
    first.inactivity_done = True
    saved = first.state_to_save()
    assert saved.inactivity_checked == NOON.isoformat()
    assert runtime(saved).inactivity_not_due() == NOON
    assert runtime(saved, check_every_hours=2).inactivity_not_due() == NOON
    assert runtime(saved, warn_days=6).inactivity_not_due() is None
    assert runtime(saved, exempt_roles=[]).inactivity_not_due() is None


def test_a_run_that_only_checked_inactivity_keeps_the_base_dn_its_watermark_belongs_to():
    old = RunState("dc=old,dc=example", "r", watermark=NOON.isoformat(), last_full=NOON.isoformat())
    rt = runtime(old)
    rt.inactivity_done = True
    saved = rt.state_to_save()
    assert saved.base_dn == "dc=old,dc=example" and saved.watermark == NOON.isoformat()
    rt.reconciled(NOON, full=True)
    assert rt.state_to_save().base_dn == "dc=example,dc=com"


def test_only_a_check_that_did_all_it_had_to_counts():
    from mopldap.plan.inactivity import InactivityPlan
    from mopldap.runs.notices import MailCounts
    from mopldap.runs.summary import InactivitySummary

    assert InactivitySummary(InactivityPlan()).complete
    assert InactivitySummary(InactivityPlan(), mail=MailCounts(warnings=3, refused=["a@example.com"])).complete
    assert not InactivitySummary(InactivityPlan(braked="safety brake: ...")).complete
    assert not InactivitySummary(InactivityPlan(), failed=["uid=x: insufficient access"]).complete
    assert not InactivitySummary(InactivityPlan(), mail=MailCounts(error="mail server down")).complete
    assert not InactivitySummary(InactivityPlan(), mail=MailCounts(problems=["warning.zh.txt: bad"])).complete
