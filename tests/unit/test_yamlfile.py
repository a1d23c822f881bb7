import pytest

from mopldap.model.errors import ConfigError
from mopldap.model.yamlfile import parse_yaml


def test_lines_of_keys_and_list_items_are_recorded():
    doc = parse_yaml("a:\n  b:\n    - x\n    - y\n", "f.yaml")
    assert doc.line_of(("a", "b", 1)) == 4
    assert doc.where(("a", "b", 0)) == "f.yaml:3: a.b[0]"
    assert doc.where(("a", "missing")) == "f.yaml:1: a.missing"


def test_duplicate_keys_are_refused_at_any_depth():
    with pytest.raises(ConfigError, match=r"f.yaml:3: invalid YAML: duplicate key 'k' \(first at line 2\)"):
        parse_yaml("top:\n  k: 1\n  k: 2\n", "f.yaml")


def test_syntax_errors_name_the_line():
    with pytest.raises(ConfigError, match=r"^f.yaml:2: invalid YAML"):
        parse_yaml("a: [1, 2\nb: 3\n", "f.yaml")


def test_dump_quotes_what_yaml_would_misread():
    import yaml

    from mopldap.model.passwords import generate
    from mopldap.model.yamlfile import dump

    tricky = ["@start", "%x", "!tag", "#hash", "a: b", "-dash", "?q", "=eq", "+1", "yes", "0777", generate(20)]
    assert yaml.safe_load(dump({p: p for p in tricky})) == {p: p for p in tricky}


def test_aliases_may_share_but_not_explode_or_loop():
    shared = parse_yaml("a: &r [x, y]\nb: *r\n", "f.yaml")  # as PyYAML writes shared lists
    assert shared.data == {"a": ["x", "y"], "b": ["x", "y"]}
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdef", "bcdefg"))
    with pytest.raises(ConfigError, match="expand to more than 300,000 values"):
        parse_yaml(bomb, "f.yaml")
    with pytest.raises(ConfigError, match="an alias refers to itself"):
        parse_yaml("foo: &a [*a]\n", "f.yaml")


def test_redaction_replaces_every_value_that_could_be_a_password_at_any_depth():
    from mopldap.model.redaction import redact

    data = {"request_id": "P001-1", "operations": [
        {"op": "create_user", "initial_password": "Secret-1", "username": "a"},
        {"op": "reset_password", "new_password": {"nested": "Secret-2"}},
        {"op": "create_partner", "admin": {"Initial_Password": "Secret-3", "pwd": "Secret-4"}},
        {"op": "update_user", "passwd": ["Secret-5"]}]}
    out = str(redact(data))
    for secret in ("Secret-1", "Secret-2", "Secret-3", "Secret-4", "Secret-5"):
        assert secret not in out
    assert "'username': 'a'" in out and "<redacted>" in out
