"""Strict YAML reading: duplicate keys are errors, and every value knows its line.

PyYAML silently keeps the last of two equal keys; in a role map or a request that
hides a mistake, so both are refused here. The line map lets pydantic errors name
the line of the offending key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .redaction import shown_key

Location = tuple[str | int, ...]


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML has it
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data: Any) -> str:
    """YAML text of `data`: block style, keys in their order, Chinese as is."""
    return yaml.dump(data, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=120)


class _DuplicateKey(yaml.constructor.ConstructorError):
    """Raised by mopldap itself: its message names a key, never a value."""


class _StrictLoader(_BaseLoader):
    """SafeLoader that refuses duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: let SafeLoader report it
                duplicate = False
            if duplicate:
                raise _DuplicateKey(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


@dataclass
class YamlDocument:
    """A parsed YAML document with the line of every key and list item."""

    source: str
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Location) -> int | None:
        """Return the line of `location`, or of its nearest parent that has one."""
        loc = tuple(location)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None

    def where(self, location: Location) -> str:
        """Return 'file:line: a.b[0].c' for error messages."""
        line = self.line_of(location)
        prefix = f"{self.source}:{line}" if line else self.source
        path = format_location(location)
        return f"{prefix}: {path}" if path else prefix


def format_location(location: Location, hide_secrets: bool = False) -> str:
    """Return ('roles', 'auditor', 'systems', 0) as 'roles.auditor.systems[0]'. With `hide_secrets`
    (a request file: anyone's text), a key that could be a password glued to its key is hidden."""
    out = ""
    for part in location:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = shown_key(part) if hide_secrets else str(part)
            out += f".{name}" if out else name
    return out


MAX_EXPANDED_NODES = 300_000
"""Values a document may expand to through its aliases (a 1 MiB request holds fewer without
any): refused before they are built, so memory stays bounded whatever the file asks for."""
MAX_DEPTH = 64
"""Nesting levels: more is refused before anything is built (no recursion runs out of stack)."""


def _check_aliases(root: yaml.Node, source: str) -> None:
    """Refuse an alias that refers to itself, and aliases that would expand past
    MAX_EXPANDED_NODES values (a few hundred bytes of `&a [*b, *b, ...]` can ask for billions). Plain anchors,
    as PyYAML writes them for shared lists, are fine."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if len(on_path) > MAX_DEPTH:
            raise ConfigError(f"{source}:{node.start_mark.line + 1}: invalid YAML: nested more than {MAX_DEPTH} "
                              "levels deep")
        children = [] if isinstance(node, yaml.ScalarNode) else (
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else list(node.value))
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_EXPANDED_NODES:
                raise ConfigError(f"{source}:{node.start_mark.line + 1}: invalid YAML: its aliases expand to more "
                                  f"than {MAX_EXPANDED_NODES:,} values")
            continue
        if key in size:
            continue
        if key in on_path:
            raise ConfigError(f"{source}:{node.start_mark.line + 1}: invalid YAML: an alias refers to itself")
        on_path.add(key)
        stack.append((node, True))
        stack += [(c, False) for c in children if id(c) not in size]


def _record_lines(node: yaml.Node, path: Location, lines: dict[Location, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = path + (key,)
            lines[child] = key_node.start_mark.line + 1
            _record_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = path + (index,)
            lines[child] = item.start_mark.line + 1
            _record_lines(item, child, lines)


def parse_yaml(text: str, source: str) -> YamlDocument:
    """Given YAML text, return the document. Raise ConfigError naming source and line."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_aliases(node, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if not isinstance(exc, _DuplicateKey):
            problem = _without_content(problem)
        raise ConfigError(f"{source}{line}: invalid YAML: {problem}") from None
    except ConfigError:
        raise
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError, UnicodeError) as exc:
        # e.g. a date like 2026-13-45, a 5,000-digit number: PyYAML's constructors raise these
        raise ConfigError(f"{source}: invalid YAML: a value cannot be read ({type(exc).__name__})") from None
    finally:
        loader.dispose()
    lines: dict[Location, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return YamlDocument(source=source, data=data, lines=lines)


_QUOTED = re.compile(r"'(?!<)[^']*'|\"(?!<)[^\"]*\"")


def _without_content(problem: str) -> str:
    """A parser's message with the file's own text left out (it quotes tags, aliases, characters:
    the text could be a password); token names like '<scalar>' are kept."""
    return _QUOTED.sub("'…'", problem)


def read_yaml(path: Path, seen: dict[Path, bytes] | None = None) -> YamlDocument:
    """Read and parse a YAML file. `seen`, if given, holds the bytes of files already read (the
    file is not read again) and gets those read here. Raise ConfigError if it cannot be read or
    parsed."""
    try:
        raw = seen[path] if seen is not None and path in seen else path.read_bytes()
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text() reads it
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if seen is not None:
        seen[path] = raw
    return parse_yaml(text, str(path))


def pydantic_errors(error: Any, prefix: Location = (), hide_secrets: bool = False) -> list[tuple[Location, str]]:
    """Turn a pydantic ValidationError into (location, message) pairs, messages in plain words.
    With `hide_secrets`, keys and values that could hold a password are not quoted."""
    out = []
    for item in error.errors(include_url=False):
        loc = prefix + tuple(part for part in item["loc"] if not _is_union_tag(part))
        message = _strip_prefix(item["msg"])
        key = (shown_key(loc[-1]) if hide_secrets else str(loc[-1])) if loc else "?"
        if item["type"] in ("extra_forbidden", "unexpected_keyword_argument"):  # a model's, a dataclass's
            message = f"unknown key '{key}'"
        elif item["type"] in ("missing", "missing_argument"):
            message = f"missing required key '{key}'"
        elif item["type"] == "literal_error":
            message = item["msg"].removeprefix("Input should be ")
            if not hide_secrets:  # a request file's values are never quoted
                message += f", not {item.get('input')!r}"
            message = f"must be {message}"
        elif item["type"] == "union_tag_invalid":  # pydantic's own message quotes the value
            message = f"unknown {item.get('ctx', {}).get('discriminator', 'tag')}; one of: " \
                      f"{item.get('ctx', {}).get('expected_tags', '?')}"
        given = item.get("input")
        if (hide_secrets and item["type"] != "value_error" and isinstance(given, str) and len(given) >= 3
                and given in message):  # pydantic's own messages (ours, value_error, never quote a value)
            message = message.replace(given, "<the value given>")
        out.append((loc, message))
    return out


def pydantic_problems(doc: YamlDocument, error: Any, prefix: Location = ()) -> list[str]:
    """Turn a pydantic ValidationError into one 'file:line: path: message' line per problem."""
    return [f"{doc.where(loc)}: {message}" for loc, message in pydantic_errors(error, prefix)]


_TAG = re.compile(r"(function-[a-z]+|[a-z]+(-[a-z]+)*)\[.*\]|int|str|float|bool|constrained-str")


def _is_union_tag(part: str | int) -> bool:
    """pydantic puts the union member it tried ('int', 'str', 'function-after[...]') into error
    locations; drop those (a key of the data is kept, whatever characters it has)."""
    return isinstance(part, str) and _TAG.fullmatch(part) is not None


def _strip_prefix(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message
