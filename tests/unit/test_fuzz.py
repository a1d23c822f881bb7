"""Property tests over what strangers control: request text, bytes, file names. Whatever comes
in: no uncaught exception, and a password never comes out (problems, redacted copy, names)."""

from __future__ import annotations

import os
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mopldap.files.inbox import Inbox, safe_name, shown_name
from mopldap.model.layout import (_IRREGULAR, _IRREGULAR_ASCII, Layout, _normalized_or_lower, normalize_dn,
                                  normalize_dns, split_dn)
from mopldap.model.requests import read_request_text

SECRET = "Zx8-Fuzz-Secret"
EXAMPLES = int(os.environ.get("MOPLDAP_FUZZ_EXAMPLES", "300"))  # more for a long fuzzing session
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
keys = st.one_of(st.sampled_from(["request_id", "requested_by", "partner", "operations", "op", "username",
                                  "roles", "name", "admin", "user_type", "email", "mobile"]), st.text(max_size=10))
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                          st.dictionaries(keys, inner, max_size=6)), max_leaves=30)
password_keys = st.sampled_from(["initial_password", "new_password", "Initial_Password", "new_pasword", "passwd"])


def with_password(doc, key: str):
    """`doc`, somewhere inside, carrying the secret under `key` (an operation's password)."""
    op = {"op": "reset_password", "username": "lisi", key: SECRET}
    base = {"request_id": "P001-F", "requested_by": "zhangsan", "partner": "P001", "operations": [op]}
    if isinstance(doc, dict):
        base.update({k: v for k, v in doc.items() if k not in base})
    else:
        base["extra"] = doc
    return base


def assert_no_secret(read) -> None:
    assert all(SECRET not in problem for problem in read.problems), read.problems
    assert read.redacted is None or SECRET not in read.redacted


@FUZZ
@given(documents, password_keys)
def test_any_document_gives_a_request_or_problems_and_never_the_password(doc, key):
    text = yaml.safe_dump(with_password(doc, key), allow_unicode=True)
    assert_no_secret(read_request_text(text, "f.yaml"))


@FUZZ
@given(documents, st.sampled_from(["initial_password", "new_password"]), st.integers(min_value=0, max_value=400),
       st.text(max_size=8))
def test_a_document_broken_anywhere_never_shows_the_password(doc, key, cut, junk):
    text = yaml.safe_dump(with_password(doc, key), allow_unicode=True, default_flow_style=None)
    cut = min(cut, len(text))
    broken = text[:cut] + junk + text[cut:]
    assert_no_secret(read_request_text(broken, "f.yaml"))


yaml_ish = st.text(alphabet=string.printable + "中文&*!|>{}[]:-?#", max_size=300)


@FUZZ
@given(st.one_of(yaml_ish, st.text(max_size=300)))
def test_any_text_is_read_without_an_exception(text):
    read = read_request_text(text, "f.yaml")
    assert read.request is not None or read.problems


@FUZZ
@given(st.text(alphabet=" :!&*|>{}[],-'\"\n", max_size=60))
def test_a_password_in_any_yaml_syntax_never_shows(shape):
    text = f"request_id: P001-F\noperations:\n  - op: reset_password\n    new_password: {shape}{SECRET}{shape}\n"
    assert_no_secret(read_request_text(text, "f.yaml"))


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes_in_a_file_are_read_or_refused_without_an_exception(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "f.yaml"
    path.write_bytes(data)
    text, why = Inbox.read(path)
    assert (text is None) != (why is None)
    if text is not None:
        read_request_text(text, "f.yaml")


names = st.binary(min_size=1, max_size=255).filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))


@FUZZ
@given(names)
def test_any_file_name_is_claimed_and_named_safely(tmp_path_factory, raw):
    root = tmp_path_factory.mktemp("names")
    inbox, work = root / "inbox", root / "work"
    inbox.mkdir()
    name = os.fsdecode(raw)
    (inbox / name).write_text("x: 1\n")
    box = Inbox(inbox, work)
    for path, resumed in box.pending():
        claimed = box.claim(path, resumed)
        assert claimed is not None
        assert claimed.name.isprintable() and len(claimed.name) <= 200
        assert len(claimed.path.name.encode()) <= 255 and Inbox.read(claimed.path)[0] == "x: 1\n"
    result_name = safe_name(name) + ".result.yaml"
    assert len(result_name.encode()) < 255 and "/" not in result_name and result_name.isprintable()
    assert shown_name(name).isprintable()


_DN_PART = st.text(alphabet=string.ascii_letters + string.digits + " -=,+\\\"<>;#.é员", min_size=1, max_size=12)


@given(st.lists(st.tuples(st.sampled_from(["uid", "OU", "cn", "dc", "Dc", "x-y"]), _DN_PART), min_size=1, max_size=5))
def test_a_dn_normalizes_as_its_parts_do_with_or_without_the_fast_path(parts):
    dn = ",".join(f"{attr}={value}" for attr, value in parts)
    try:
        general = ",".join(f"{a.lower()}={v.lower()}" for a, v in split_dn(dn))
    except ValueError:
        with pytest.raises(ValueError):
            normalize_dn(dn)
        return
    assert normalize_dn(dn) == general


_LAYOUT = Layout("dc=example,dc=com")


@given(st.lists(st.tuples(st.sampled_from(["uid", "OU", "ou", "cn"]), _DN_PART), min_size=0, max_size=3),
       st.sampled_from(["ou=partners,dc=example,dc=com", "OU=Partners,DC=Example,DC=com", "ou=hq,dc=example,dc=com",
                        "ou=HQ,dc=example,dc=com", "dc=example,dc=com", "ou=partners,dc=other,dc=com"]))
def test_where_an_account_lives_reads_the_same_from_the_string_as_from_the_parsed_dn(parts, container):
    dn = ",".join([*(f"{attr}={value}" for attr, value in parts), container])
    try:
        expected = (_LAYOUT._partner_of_parsed(dn), _LAYOUT._is_hq_account_parsed(dn))
    except ValueError:
        with pytest.raises(ValueError):
            _LAYOUT.partner_of(dn)
        return
    assert (_LAYOUT.partner_of(dn), _LAYOUT.is_hq_account(dn)) == expected


_MEMBER_VALUES = st.lists(st.one_of(
    st.lists(st.tuples(st.sampled_from(["uid", "OU", "cn", "1.2", "x-y", ""]), _DN_PART), min_size=1, max_size=5)
    .map(lambda parts: ",".join(f"{attr}={value}" for attr, value in parts)),
    st.text(alphabet=string.printable + "é员\u3000\x1c\xa0", max_size=30)), max_size=8)


@given(_MEMBER_VALUES)
def test_member_values_normalize_in_bulk_as_one_by_one(values):
    """normalize_dns (one scan for the usual values) gives normalize_dn's answer for each DN, and
    the lowercase of a value that is no DN, whatever else the list holds."""
    assert normalize_dns(values) == [_normalized_or_lower(v) for v in values]


def test_the_ascii_scan_finds_what_the_pattern_finds():
    found = "".join(chr(c) for c in range(128) if _IRREGULAR.search(chr(c)))
    assert sorted(found) == sorted(_IRREGULAR_ASCII)


@given(st.lists(st.tuples(st.sampled_from(["uid", "OU", "ou", "cn", "1.2"]), _DN_PART), min_size=0, max_size=3),
       st.sampled_from(["ou=partners,dc=example,dc=com", "OU=Partners,DC=Example,DC=com", "ou=hq,dc=example,dc=com",
                        "ou=HQ,dc=example,dc=com", "dc=example,dc=com", "ou=partners,dc=other,dc=com"]),
       st.sampled_from(["dc=example,dc=com", "o=Acme\\, Inc,c=CN", "dc=example, dc=com"]))
def test_where_an_account_lives_reads_the_same_from_its_normalized_dn_as_from_the_parsed_dn(parts, container, base):
    """Layout.place of a member's normalized form (or lowercase, if it is no DN) answers as the
    parsed DN does: 'partner', 'hq' or None."""
    layout = Layout(base)
    container = container.replace("dc=example,dc=com", base)
    dn = ",".join([*(f"{attr}={value}" for attr, value in parts), container])
    try:
        expected = ("partner" if layout._partner_of_parsed(dn) is not None
                    else "hq" if layout._is_hq_account_parsed(dn) else None)
    except ValueError:
        expected = None
    assert layout.place(_normalized_or_lower(dn)) == expected
