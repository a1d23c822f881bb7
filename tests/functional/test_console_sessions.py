"""A console session follows the account: disabled or stripped of its role, the person loses what
the session gave them (checked against the directory once a minute; here at every page)."""

import pytest
from fastapi.testclient import TestClient

from conftest import ZHANGSAN_PW, Console, own_passwords
from mopldap.web import console as console_module
from mopldap.web.app import create_app


@pytest.fixture
def browser(partner, monkeypatch):
    monkeypatch.setattr(console_module, "RECHECK_SECONDS", 0)
    own_passwords(partner)
    config, rolemap = partner.settings()
    with TestClient(create_app(config, rolemap), base_url="http://127.0.0.1") as client:
        page = client.get("/signin")
        client.post("/signin", data={"csrf": Console.csrf(page.text), "username": "zhangsan",
                                     "password": ZHANGSAN_PW})
        assert client.get("/partners/P001", follow_redirects=False).status_code == 200
        yield client


def test_a_disabled_administrator_is_signed_out_of_the_console(partner, browser):
    partner.request([{"op": "disable_user", "username": "zhangsan"}], requested_by="hqadmin")
    answer = browser.get("/partners/P001", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"


def test_an_administrator_who_loses_the_role_loses_the_partner_pages(partner, browser):
    partner.request([{"op": "set_roles", "username": "zhangsan", "roles": ["sales-specialist"]}],
                    requested_by="hqadmin")
    assert browser.get("/partners/P001").status_code == 404
    assert browser.get("/me").status_code == 200
