"""Validation attached to plain dataclasses, for pydantic to read when it checks a file.

The configuration and the role map are frozen dataclasses rather than pydantic models, so that a
command whose settings were checked before (files/checked.py) never imports pydantic: importing it
and building the models took about 85 ms of every start-up, a third of it (bench/results-large.md).
pydantic validates the same classes when a file is read (`validator`); these markers carry what a
field needs checked, in annotations that stay strings until then.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

STRICT = {"extra": "forbid", "validate_default": True}
"""A dataclass's __pydantic_config__: an unknown key is an error; a default is checked (and its
relative paths resolved) like a given value."""


class After:
    """`Annotated[T, After(check)]`: `check(value)` (with `info`: `check(value, info)`) runs on the
    value pydantic made of type T; a ValueError it raises is a problem at that key."""

    def __init__(self, check: Callable[..., Any], info: bool = False) -> None:
        self.check, self.info = check, info

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        make = (core_schema.with_info_after_validator_function if self.info
                else core_schema.no_info_after_validator_function)
        return make(self.check, handler(source))


class Before:
    """`Annotated[T, Before(adapt)]`: `adapt(value)` runs on the value as given, before pydantic
    makes a T of it."""

    def __init__(self, adapt: Callable[[Any], Any]) -> None:
        self.adapt = adapt

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(self.adapt, handler(source))


class Limits:
    """`Annotated[int, Limits(ge=1, le=10)]`: pydantic's own constraints on a number or a string
    (gt, ge, lt, le, min_length), with its own messages."""

    def __init__(self, **constraints: Any) -> None:
        self.constraints = constraints

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return {**handler(source), **self.constraints}


def renamed(schema: dict, keys: dict[str, str]) -> dict:
    """A dataclass's schema in which field `name` is given as key `keys[name]` in the file (for a
    key that is a Python keyword, like `from`)."""
    for field in schema["schema"]["fields"]:
        if field["name"] in keys:
            field["validation_alias"] = keys[field["name"]]
    return schema


@cache
def validator(cls: type) -> Any:
    """pydantic's validator for the dataclass `cls` (imported and built at the first call)."""
    from pydantic import TypeAdapter

    return TypeAdapter(cls)
