"""Cron expressions: a cheap check of the common forms, APScheduler for the rest.

Checking `*/15 * * * *` needs no scheduler; importing APScheduler costs a command
that only syncs once a tenth of its start-up time. Anything beyond numbers, names,
`*`, ranges, steps and lists is handed to APScheduler itself.
"""

from __future__ import annotations

import re

_NAMES = {
    "month": ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    "day_of_week": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}
_RANGES = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12),
           "day_of_week": (0, 7)}
_PART = re.compile(r"(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?")


def _value(token: str, field: str) -> int | None:
    if token.isdigit():
        return int(token)
    names = _NAMES.get(field, [])
    return names.index(token) + (1 if field == "month" else 0) if token in names else None


def _simple_field(text: str, field: str) -> bool | None:
    """True/False if `text` is (not) a valid simple field; None if it is not a simple form."""
    low, high = _RANGES[field]
    for part in text.lower().split(","):
        match = _PART.fullmatch(part)
        if not match:
            return None
        body, step = match.groups()
        if step is not None and int(step) == 0:
            return False
        if body == "*":
            continue
        bounds = [_value(t, field) for t in body.split("-")]
        if any(b is None for b in bounds):
            return None
        if any(not low <= b <= high for b in bounds) or (len(bounds) == 2 and bounds[0] > bounds[1]):
            return False
    return True


def check_cron(expression: str) -> None:
    """Raise ValueError if `expression` is not a cron expression of 5 fields, or 6 with seconds first."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError("need 5 fields (minute hour day month weekday), or 6 with seconds first")
    names = ["second"] * (len(fields) == 6) + ["minute", "hour", "day", "month", "day_of_week"]
    verdicts = [_simple_field(text, name) for text, name in zip(fields, names)]
    if all(v is True for v in verdicts):
        return
    if any(v is False for v in verdicts):
        bad = next(f for f, v in zip(fields, verdicts) if v is False)
        raise ValueError(f"field '{bad}' is out of range")
    cron_trigger(expression)  # an unusual form: let APScheduler judge


def crontab_weekdays(field: str) -> str:
    """Translate a crontab weekday field (0 or 7 = Sunday, 1 = Monday) to APScheduler's, where
    0 is Monday: numbers, ranges and steps become the list of day names they mean."""
    if not any(c.isdigit() for c in field):
        return field  # '*', names: the same in both
    days: set[int] = set()
    for part in field.lower().split(","):
        match = _PART.fullmatch(part)
        if not match:
            raise ValueError(f"weekday field '{field}' is not understood")
        body, step = match.groups()
        if body == "*":
            low, high = 0, 6
        else:
            bounds = [_value(t, "day_of_week") for t in body.split("-")]
            if any(b is None for b in bounds):
                raise ValueError(f"weekday field '{field}' is not understood")
            low, high = bounds[0], bounds[-1]
        days |= set(range(low, high + 1, int(step or 1)))
    return ",".join(_NAMES["day_of_week"][d % 7] for d in sorted({d % 7 for d in days}))


def cron_trigger(expression: str):
    """Return the APScheduler trigger of a cron expression: 5 fields (minute hour day month
    weekday), or 6 with seconds first, weekdays as in crontab. Raise ValueError if it is not one."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError("need 5 fields (minute hour day month weekday), or 6 with seconds first")
    second = fields[0] if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields[-5:]
    return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                       day_of_week=crontab_weekdays(weekday))
