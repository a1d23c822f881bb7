"""Patterns match whole values: a trailing newline or a control character never passes."""

from __future__ import annotations

import pytest
import yaml

from mopldap.model.requests import read_request_text


def problems_of(**fields) -> list[str]:
    op = {"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service",
          "roles": ["service-specialist"]} | {k: v for k, v in fields.items() if k in ("username", "email", "mobile")}
    body = {"request_id": fields.get("request_id", "P001-1"), "requested_by": "zhangsan",
            "partner": fields.get("partner", "P001"), "operations": [op]}
    return read_request_text(yaml.safe_dump(body, allow_unicode=True), "r.yaml").problems


@pytest.mark.parametrize("field,value", [
    ("username", "lisi\n"), ("username", "lisi\t"), ("username", "li\x00si"),
    ("partner", "P001\n"), ("request_id", "P001-1\n"), ("request_id", "P001-1\x7f"),
    ("email", "lisi@example.com\n"), ("mobile", "13800138000\n"),
])
def test_a_value_with_a_trailing_newline_or_control_character_is_refused(field, value):
    assert problems_of(**{field: value}), f"{field}={value!r} passed"


def test_the_same_values_without_them_pass():
    assert problems_of(username="lisi", email="lisi@example.com", mobile="13800138000") == []
