import pytest

from mopldap.errors import ConfigError
from mopldap.yamlfile import parse_yaml


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

    from mopldap.passwords import generate
    from mopldap.yamlfile import dump

    tricky = ["@start", "%x", "!tag", "#hash", "a: b", "-dash", "?q", "=eq", "+1", "yes", "0777", generate(20)]
    assert yaml.safe_load(dump({p: p for p in tricky})) == {p: p for p in tricky}
