"""Every text the console shows has its Chinese: the templates' _("...") and the messages the
pages pass to them."""

import ast
import re
from pathlib import Path

from mopldap.web.app import TROUBLE
from mopldap.web.i18n import EN, ZH, translator
from mopldap.web.reads import SORTS, STATUSES

WEB = Path(__file__).resolve().parents[2] / "mopldap" / "web"


def _template_texts() -> set[str]:
    texts = set()
    for path in (WEB / "templates").glob("*.html"):
        source = path.read_text(encoding="utf-8")
        texts |= set(re.findall(r'_\("([^"]+)"\)', source)) | set(re.findall(r"_\('([^']+)'\)", source))
    return texts


def _page_messages() -> set[str]:
    """The literal messages pages.py hands to a template (error=, message=), and app.py's TROUBLE."""
    texts = set(TROUBLE.values())
    for name in ("pages.py",):
        tree = ast.parse((WEB / name).read_text(encoding="utf-8"))
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if id(node) in docstrings:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith("."):
                if node.value[:1].isupper() and " " in node.value:
                    texts.add(node.value)
    return texts


def test_every_template_text_has_its_chinese():
    missing = sorted(t for t in _template_texts() if t not in ZH)
    assert missing == []


def test_every_message_of_the_pages_has_its_chinese():
    missing = sorted(t for t in _page_messages() if t not in ZH)
    assert missing == []


def test_codes_shown_to_people_read_as_words_in_both_languages():
    codes = [*STATUSES, *(f"sort: {s}" for s in SORTS), "admin", "offboarded", "inactivity", "partner-suspended"]
    for code in codes:
        assert code in ZH, code
        assert translator("en")(code) != code or " " not in code and code in ("active", "disabled", "offboarded"), code
    assert translator("en")("first-password") == "active, password not yet changed"
    assert translator("zh")("Sign in") == "登录"
    assert set(EN) <= set(ZH)
