"""The console's defences, tried over HTTP against the real `mopldap serve` process and a real
slapd: sign-in that tells nothing, the rate limit, forms forged by hand, cookies and headers,
sign-out, where it may listen, and TLS."""

from __future__ import annotations

import re
import ssl

import httpx
import pytest

from conftest import (HQADMIN_PW, LISI, ZHANGSAN_PW, Console, Env, account_dn, free_port, own_passwords,
                      run_mopldap, start_console, start_mopldap, wait_for_port, with_second_partner)
from test_operations import roles_of
from test_console_api import directory_state, failures, last_login, lock, never_signed_in_admin, recent

WRONG = "Wrong username or password."


def signin_attempt(console: Console, username: str, password: str) -> httpx.Response:
    """One sign-in from a fresh browser (its own cookie and form token); `signed_in` on the answer
    tells whether that browser may then see a page."""
    with console.client() as client:
        form = client.get("/signin")
        answer = client.post("/signin", data={"csrf": console.csrf(form.text), "username": username,
                                              "password": password})
        answer.signed_in = client.get("/me").status_code == 200
        return answer


def normalized(page: str) -> str:
    """The page without what differs by design: its form token and the username typed."""
    page = re.sub(r'name="csrf" value="[^"]*"', 'name="csrf" value=""', page)
    return re.sub(r'(name="username" value=")[^"]*"', r'\1"', page)


def error_of(page: str) -> str | None:
    found = re.search(r'<p class="error" id="(?:error|problem)">([^<]*)</p>', page)
    return found.group(1) if found else None


# -- sign-in ---------------------------------------------------------------------------------


def test_every_refused_sign_in_gets_the_same_answer(console: Console):
    env = console.env
    env.request([LISI], request_id="P001-lisi")
    env.request([{"op": "disable_user", "username": "lisi"}], request_id="P001-lisi-off")  # as zhangsan
    env.request([LISI | {"username": "zhaoliu", "initial_password": "Zhaoliu-Init-9"}], request_id="P001-zhaoliu")
    lock(env, account_dn("zhaoliu"))
    assert not env.can_bind(account_dn("zhaoliu"), "Zhaoliu-Init-9")  # the server's lockout holds

    answers = {
        "wrong password": signin_attempt(console, "zhangsan", "Not-His-Password-1"),
        "unknown user": signin_attempt(console, "nobody", ZHANGSAN_PW),
        "disabled": signin_attempt(console, "lisi", LISI["initial_password"]),
        "locked": signin_attempt(console, "zhaoliu", "Zhaoliu-Init-9"),
    }
    for what, answer in answers.items():
        assert answer.status_code == 401, what
        assert error_of(answer.text) == WRONG, what
        assert not answer.signed_in, what
    pages = {what: normalized(answer.text) for what, answer in answers.items()}
    assert len(set(pages.values())) == 1, "the pages differ"
    assert signin_attempt(console, "zhangsan", ZHANGSAN_PW).signed_in  # while the right password signs in
    log = console.log()
    assert "Not-His-Password-1" not in log and ZHANGSAN_PW not in log and "Zhaoliu-Init-9" not in log


def test_a_wrong_password_at_the_console_is_counted_by_the_password_policy(console: Console):
    env = console.env
    dn = account_dn("zhangsan")
    assert failures(env, dn) == []
    assert signin_attempt(console, "zhangsan", "Not-His-Password-1").status_code == 401
    assert len(failures(env, dn)) == 1
    client, page = console.sign_in("zhangsan", ZHANGSAN_PW)  # slapd clears the count on success
    client.close()
    assert page.url.path == "/partners/P001"
    assert failures(env, dn) == []


def test_a_sign_in_counts_as_a_login(console: Console):
    env = console.env
    username, password = never_signed_in_admin(env)
    client, page = console.sign_in(username, password)
    client.close()
    assert page.url.path == "/partners/P002"
    (last,) = last_login(env, account_dn("qianba", "P002"))
    assert recent(last)
    # a person still on a password set for them signs in too (to change it): a login as well
    env.request([LISI], request_id="P001-lisi")
    client, page = console.sign_in("lisi", LISI["initial_password"])
    client.close()
    assert page.url.path == "/password"
    assert recent(last_login(env, account_dn("lisi"))[0])


def test_failed_sign_ins_from_one_address_are_rate_limited(partner: Env):
    env = own_passwords(partner)
    console = start_console(env, web={"sign_in_per_minute": 3})
    try:
        for username in ("nobody1", "nobody2", "nobody3"):
            assert signin_attempt(console, username, "Guess-1234").status_code == 401
        # the next attempt is not even tried against the directory: the right password is refused
        # too, and a wrong one is not counted by the password policy
        refused = signin_attempt(console, "zhangsan", "Not-His-Password-1")
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in error_of(refused.text)
        assert failures(env, account_dn("zhangsan")) == []
        right = signin_attempt(console, "zhangsan", ZHANGSAN_PW)
        assert right.status_code == 429 and not right.signed_in
        with console.client() as client:
            api = client.get("/api/v1/partners/P001/accounts", auth=("zhangsan", ZHANGSAN_PW))
        assert api.status_code == 429 and api.json()["status"] == 429
    finally:
        console.stop()


# -- forms forged by hand ----------------------------------------------------------------------


@pytest.fixture
def forging(console: Console):
    """zhangsan signed in at the console; P002 (qianba) and P001's lisi exist."""
    env = console.env
    with_second_partner(env)
    env.request([LISI], request_id="P001-lisi")
    client, page = console.sign_in("zhangsan", ZHANGSAN_PW)
    assert page.url.path == "/partners/P001"
    yield console, client, console.csrf(page.text)
    client.close()


def test_a_forged_form_naming_another_partners_account_is_refused(forging):
    console, client, csrf = forging
    env = console.env
    before = directory_state(env)
    answer = client.post("/partners/P001/accounts/lisi/disable_user", data={"csrf": csrf, "username": "qianba"})
    assert answer.status_code == 400, answer.text
    answer = client.post("/partners/P001/accounts/qianba/disable_user", data={"csrf": csrf, "username": "qianba"})
    assert answer.status_code in (400, 404), answer.text
    answer = client.post("/partners/P001/accounts/lisi/delete_user",
                         data={"csrf": csrf, "username": "qianba", "confirm": "qianba"})
    assert answer.status_code == 400, answer.text
    assert directory_state(env) == before
    assert env.can_bind(account_dn("qianba", "P002"), "Qianba-Init-1")


def test_a_forged_form_granting_an_hq_role_is_refused(forging):
    console, client, csrf = forging
    env = console.env
    before = directory_state(env)
    for op in ("set_roles", "add_roles"):
        answer = client.post(f"/partners/P001/accounts/lisi/{op}",
                             data={"csrf": csrf, "username": "lisi", "roles": ["hq-admin"]})
        assert answer.status_code == 400, answer.text
    answer = client.post("/partners/P001/accounts/zhangsan/add_roles",
                         data={"csrf": csrf, "username": "zhangsan", "roles": ["hq-admin"]})
    assert answer.status_code == 400, answer.text
    assert directory_state(env) == before
    assert roles_of(env, "lisi") == {"service-specialist"}


def test_forms_for_another_partner_or_for_hq_are_not_found(forging):
    console, client, csrf = forging
    env = console.env
    before = directory_state(env)
    forged = [
        ("/partners/P002/accounts/qianba/disable_user", {"username": "qianba"}),
        ("/partners/P002/accounts/qianba/reset_password", {"username": "qianba", "new_password": "Taken-Over-123"}),
        ("/partners/P002/new", {"username": "spy", "name": "Spy", "user_type": "service",
                                "roles": ["partner-admin"], "initial_password": "Spy-Password-123"}),
        ("/partners/P002/suspend", {}),
        ("/partners/P001/suspend", {}),
        ("/partners", {"partner_code": "P003", "partner_name": "X", "username": "zz", "name": "Z",
                       "user_type": "service"}),
    ]
    for path, data in forged:
        answer = client.post(path, data={"csrf": csrf, **data})
        assert answer.status_code in (404, 400), (path, answer.status_code)
        if path != "/partners/P001/suspend":
            assert answer.status_code == 404, path
    assert directory_state(env) == before
    assert env.can_bind(account_dn("qianba", "P002"), "Qianba-Init-1")
    assert not list(env.outbox.glob("P003-*")) and env.search("(ou=P003)") == []


def test_a_refusal_of_a_form_the_page_offers_is_explained_on_the_page(forging):
    console, client, csrf = forging
    env = console.env
    page = client.get("/partners/P001/accounts/zhangsan")
    assert 'action="/partners/P001/accounts/zhangsan/disable_user"' in page.text  # offered
    before = directory_state(env)
    answer = client.post("/partners/P001/accounts/zhangsan/disable_user",
                         data={"csrf": csrf, "username": "zhangsan", "reason": "admin"})
    assert answer.status_code == 400
    assert directory_state(env) == before
    assert "you cannot disable your own account" in answer.text


def test_another_partners_pages_are_as_unknown_as_pages_that_do_not_exist(forging):
    console, client, csrf = forging
    answers = {path: client.get(path) for path in (
        "/partners/P002", "/partners/P404", "/partners/P002/accounts/qianba", "/partners/P404/accounts/qianba",
        "/partners/P002/access.csv", "/partners/P002/new", "/partners")}
    pages = set()
    for path, answer in answers.items():
        assert answer.status_code == 404, path
        page = normalized(re.sub(r'href="/language\?[^"]*"', "", answer.text))  # the switch names the path
        assert "qianba" not in page and "P002" not in page, path
        pages.add(page)
    assert len(pages) == 1, "the pages differ"
    assert error_of(answer.text) == "No such page."


def test_an_operation_the_account_page_does_not_have_is_refused(forging):
    console, client, csrf = forging
    env = console.env
    before = directory_state(env)
    for op in ("create_partner", "suspend_partner", "create_user", "nonsense"):
        answer = client.post(f"/partners/P001/accounts/lisi/{op}", data={"csrf": csrf, "username": "lisi"})
        assert answer.status_code == 400, (op, answer.status_code)
    assert directory_state(env) == before


def test_a_form_without_this_sessions_token_is_refused(forging):
    console, client, csrf = forging
    env = console.env
    hq, page = console.sign_in("hqadmin", HQADMIN_PW)
    hq_csrf = console.csrf(page.text)
    with console.client() as stranger:
        signin_csrf = console.csrf(stranger.get("/signin").text)
    before = directory_state(env)
    disable = {"username": "lisi", "reason": "admin"}
    for token in (None, "", hq_csrf, signin_csrf, csrf + "x", csrf[:-1]):
        data = disable if token is None else {**disable, "csrf": token}
        answer = client.post("/partners/P001/accounts/lisi/disable_user", data=data)
        assert answer.status_code == 400, (token, answer.status_code)
        assert error_of(answer.text) == "The form expired; please try again."
    # HQ's own token does not pass on zhangsan's session, nor zhangsan's on HQ's
    answer = hq.post("/partners/P001/accounts/lisi/disable_user", data={**disable, "csrf": csrf})
    assert answer.status_code == 400
    assert directory_state(env) == before
    assert env.can_bind(account_dn("lisi"), LISI["initial_password"])
    # the right token works (the forms above failed for their token alone)
    answer = client.post("/partners/P001/accounts/lisi/disable_user", data={**disable, "csrf": csrf})
    assert answer.status_code == 200, answer.text
    assert not env.can_bind(account_dn("lisi"), LISI["initial_password"])
    hq.close()


def test_a_session_open_when_its_account_is_disabled_can_write_nothing(forging):
    """Sessions are checked against the directory once a minute; until then the pipeline, which
    reads the requester on every request, refuses a disabled requester's forms."""
    console, client, csrf = forging
    env = console.env
    env.request([{"op": "disable_user", "username": "zhangsan"}], requested_by="hqadmin", request_id="P001-HQ-off")
    before = directory_state(env)
    answer = client.post("/partners/P001/accounts/lisi/disable_user",
                         data={"csrf": csrf, "username": "lisi", "reason": "admin"})
    assert answer.status_code in (303, 400), answer.status_code
    assert directory_state(env) == before
    assert env.can_bind(account_dn("lisi"), LISI["initial_password"])


def test_a_sign_in_without_the_forms_token_is_refused(console: Console):
    with console.client() as client:
        client.get("/signin")
        answer = client.post("/signin", data={"username": "zhangsan", "password": ZHANGSAN_PW})
        assert answer.status_code == 400
        assert client.get("/partners/P001").status_code == 303


# -- cookies, headers, sign-out ----------------------------------------------------------------


def cookie_header(response: httpx.Response, name: str = "mopldap_session") -> str:
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


def test_the_session_cookie_and_the_security_headers(console: Console):
    with console.client() as client:
        form = client.get("/signin")
        signed_in = client.post("/signin", data={"csrf": console.csrf(form.text), "username": "zhangsan",
                                                 "password": ZHANGSAN_PW})
        assert signed_in.status_code == 303
        for response in (form, signed_in):
            attributes = [a.strip().lower() for a in cookie_header(response).split(";")[1:]]
            assert "httponly" in attributes and "samesite=strict" in attributes
            assert "secure" not in attributes  # plain http: a Secure cookie would never come back
            assert "max-age=1800" in attributes  # web.session_minutes
        page = client.get("/partners/P001")
        assert page.status_code == 200
        api = client.get("/api/v1/partners/P001/accounts", auth=("zhangsan", ZHANGSAN_PW))
        problem = client.get("/partners/P002")
        language = client.get("/language?to=zh&back=/partners/P001")
        for response in (form, signed_in, page, api, problem, language):
            policy = response.headers["content-security-policy"]
            directives = {d.strip().split(" ")[0]: d.strip() for d in policy.split(";")}
            assert directives["default-src"] == "default-src 'none'"
            assert directives["frame-ancestors"] == "frame-ancestors 'none'"
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "strict-transport-security" not in response.headers
        attributes = [a.strip().lower() for a in cookie_header(language, "lang").split(";")[1:]]
        assert "httponly" in attributes and "samesite=strict" in attributes
        assert "mopldap_session" not in str(page.text)  # the cookie is not readable from the page anyway


def test_sign_out_ends_the_session(console: Console):
    env = console.env
    env.request([LISI], request_id="P001-lisi")
    client, page = console.sign_in("zhangsan", ZHANGSAN_PW)
    csrf = console.csrf(page.text)
    old_cookie = client.cookies["mopldap_session"]
    answer = client.post("/signout", data={"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    assert client.get("/partners/P001").status_code == 303
    client.close()
    # the cookie the browser had, replayed, is worth nothing: the session ended on the server
    with console.client() as replay:
        replay.cookies.set("mopldap_session", old_cookie)
        answer = replay.get("/partners/P001")
        assert answer.status_code == 303 and answer.headers["location"] == "/signin"
        before = directory_state(env)
        answer = replay.post("/partners/P001/accounts/lisi/disable_user",
                             data={"csrf": csrf, "username": "lisi", "reason": "admin"})
        assert answer.status_code == 303 and answer.headers["location"] == "/signin"
        assert directory_state(env) == before


def test_a_session_cookie_forged_or_from_another_server_is_refused(console: Console):
    with console.client() as client:
        for value in ("eyJzaWQiOiAieCJ9.forged.sig", "x", ""):
            client.cookies.set("mopldap_session", value)
            answer = client.get("/partners/P001")
            assert answer.status_code == 303 and answer.headers["location"] == "/signin", value


def test_the_language_switch_goes_back_only_to_the_consoles_own_pages(console: Console):
    with console.client() as client:
        assert client.get("/language", params={"to": "zh", "back": "/partners/P001"}).headers["location"] == \
            "/partners/P001"
        for back in ("//evil.example", "https://evil.example/", "/\\evil.example", "\\\\evil.example",
                     "/\t/evil.example", "/%2F/evil.example", "javascript:alert(1)", "/..//evil.example"):
            answer = client.get("/language", params={"to": "zh", "back": back})
            assert answer.status_code == 303 and answer.headers["location"] == "/", back


# -- where it may listen, and TLS --------------------------------------------------------------


def test_a_non_loopback_address_without_tls_is_refused_unless_allowed(initialized: Env):
    env = initialized
    port = free_port()
    for args in (["--listen", f"0.0.0.0:{port}"], []):
        if not args:
            env.write_config(web={"listen": f"0.0.0.0:{port}"})
        result = run_mopldap("--config", str(env.config_path), "serve", *args, timeout=30)
        assert result.returncode == 1, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "0.0.0.0" in lines[0] and "allow_insecure" in lines[0]
        assert not wait_for_port(port, 0.2)
    bad = run_mopldap("--config", str(env.config_path), "serve", "--listen", "nonsense", timeout=30)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "--listen" in bad.stderr

    env.write_config(web={"allow_insecure": True})
    proc = start_mopldap("--config", str(env.config_path), "serve", "--listen", f"0.0.0.0:{port}")
    try:
        assert wait_for_port(port, 30), proc.stderr.read() if proc.poll() is not None else "not listening"
        answer = httpx.get(f"http://127.0.0.1:{port}/signin", timeout=10)
        assert answer.status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_under_tls_the_cookie_is_secure_and_hsts_is_sent(partner: Env, certificate):
    env = own_passwords(partner)
    cert, key = certificate
    console = start_console(env, web={"cert_file": str(cert), "key_file": str(key)})
    url = console.url.replace("http://", "https://")
    try:
        with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=str(cert)), timeout=30,
                          headers={"Accept-Language": "en"}) as client:
            form = client.get("/signin")
            assert form.status_code == 200
            signed_in = client.post("/signin", data={"csrf": console.csrf(form.text), "username": "zhangsan",
                                                     "password": ZHANGSAN_PW})
            assert signed_in.status_code == 303
            for response in (form, signed_in):
                attributes = [a.strip().lower() for a in cookie_header(response).split(";")[1:]]
                assert {"secure", "httponly", "samesite=strict"} <= set(attributes)
                assert response.headers["strict-transport-security"].startswith("max-age=")
                assert int(response.headers["strict-transport-security"].split("=")[1].split(";")[0]) >= 86400
            page = client.get("/partners/P001")
            assert page.status_code == 200 and 'id="account-zhangsan"' in page.text
            language = client.get("/language?to=zh")
            assert "secure" in [a.strip().lower() for a in cookie_header(language, "lang").split(";")]
            api = client.get("/api/v1/partners/P001/accounts", auth=("zhangsan", ZHANGSAN_PW))
            assert api.status_code == 200 and "strict-transport-security" in api.headers
        with pytest.raises(httpx.HTTPError):  # plain http to the TLS port gets nowhere
            httpx.get(f"{console.url}/signin", timeout=5)
    finally:
        console.stop()
