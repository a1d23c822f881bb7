"""The JSON API of `mopldap serve` (/api/v1/), spoken to over HTTP by a real client against the
real server process and a real slapd: what it answers, to whom, and what it leaves behind."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from conftest import HQADMIN_PW, LISI, SERVICE_DN, ZHANGSAN_PW, Console, account_dn, with_second_partner

ZHANGSAN = ("zhangsan", ZHANGSAN_PW)
HQADMIN = ("hqadmin", HQADMIN_PW)
WANGWU = {"op": "create_user", "username": "wangwu", "name": "王五", "email": "wangwu@p001.example.com",
          "user_type": "service", "roles": ["service-specialist"]}
"""A staff member created without an initial password: mopldap generates one."""
WRONG = "wrong username or password"


def post(console: Console, body: object, auth=ZHANGSAN):
    with console.client() as client:
        return client.post("/api/v1/requests", json=body, auth=auth)


def get(console: Console, path: str, auth=ZHANGSAN):
    with console.client() as client:
        return client.get(path, auth=auth)


def lock(env, dn: str) -> None:
    """Lock an account the way a guesser would: pwdMaxFailure (5) wrong binds."""
    for _ in range(5):
        assert not env.can_bind(dn, "Not-The-Password-0")


def directory_state(env) -> str:
    """Every entry's user attributes and lock and reset state, mopldap's own account left out: equal
    states mean nothing was written. (directory_state(env) compares entryCSN, which a mere bind changes:
    the password policy records each login and failure on the entry.)"""
    records = env.ldapsearch("(objectClass=*)", "*", "pwdAccountLockedTime", "pwdReset").split("\n\n")
    return "\n\n".join(r for r in records if not r.lower().startswith(f"dn: {SERVICE_DN.lower()}\n"))


def last_login(env, dn: str) -> list[str]:
    return env.entry(dn, "pwdLastSuccess").get("pwdLastSuccess")


def failures(env, dn: str) -> list[str]:
    return env.entry(dn, "pwdFailureTime").get("pwdFailureTime")


def never_signed_in_admin(env) -> tuple[str, str]:
    """P002's administrator qianba, who never bound: its password is the one HQ gave, and HQ's
    directory administrator cleared pwdReset by hand (so that the API does not answer 403)."""
    with_second_partner(env)
    dn = account_dn("qianba", "P002")
    env.ldapmodify(f"dn: {dn}\nchangetype: modify\ndelete: pwdReset\n")
    assert last_login(env, dn) == []
    return "qianba", "Qianba-Init-1"


def recent(ldap_time: str) -> bool:
    moment = dt.datetime.strptime(ldap_time, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    return abs(dt.datetime.now(dt.timezone.utc) - moment) < dt.timedelta(minutes=5)


# -- POST /api/v1/requests: the pipeline, as the caller --------------------------------------


def test_a_partner_admin_creates_an_account_and_gets_its_generated_password_once(console: Console):
    env = console.env
    answer = post(console, {"request_id": "P001-api-1", "partner": "P001", "operations": [WANGWU]})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    result = answer.json()
    assert result["status"] == "applied"
    assert result["request_id"] == "P001-api-1" and result["requested_by"] == "zhangsan"
    assert [op["result"] for op in result["operations"]] == ["applied"]
    password = result["passwords"]["wangwu"]
    assert len(password) >= 8 and env.can_bind(account_dn("wangwu"), password)
    # shown in this answer only: not in the outbox, the archive, or the log
    env.assert_nowhere(password)
    assert not (env.outbox / "P001-api-1.secret").exists()
    # the same result document as the inbox's, without the passwords
    stored = env.result("P001-api-1")
    assert stored == {k: v for k, v in result.items() if k != "passwords"}
    # the request archived, as sent, with the caller as requester
    archived = yaml.safe_load((env.archive / "requests" / "P001-api-1.yaml").read_text(encoding="utf-8"))
    assert archived["requested_by"] == "zhangsan" and archived["operations"][0]["username"] == "wangwu"
    # audit lines for the writes, with the requester
    lines = [line for line in env.audit() if line.get("request_id") == "P001-api-1"]
    assert lines and {line["requester"] for line in lines} == {"zhangsan"}
    assert any(line["dn"] == account_dn("wangwu") for line in lines)
    assert password not in console.log()


def test_an_initial_password_given_is_not_answered_nor_kept(console: Console):
    env = console.env
    answer = post(console, {"partner": "P001", "operations": [LISI]})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["status"] == "applied" and "passwords" not in result
    assert result["request_id"].startswith("P001-api-")  # one was made
    assert env.can_bind(account_dn("lisi"), LISI["initial_password"])
    assert LISI["initial_password"] not in answer.text
    env.assert_nowhere(LISI["initial_password"])
    assert (env.outbox / f"{result['request_id']}.result.yaml").exists()


def test_the_result_does_not_point_at_a_secret_file_that_is_gone(console: Console):
    env = console.env
    result = post(console, {"request_id": "P001-api-2", "partner": "P001", "operations": [WANGWU]}).json()
    assert not (env.outbox / "P001-api-2.secret").exists()
    for document in (result, env.result("P001-api-2")):
        assert ".secret" not in document["operations"][0]["message"]


# -- 400 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {"partner": "P001", "operations": [WANGWU | {"email": "not-an-email"}]},
    {"partner": "P001", "operations": [{"op": "make_coffee", "username": "wangwu"}]},
    {"partner": "P001", "operations": []},
    {"partner": "P001"},
    {"partner": "p001", "operations": [WANGWU]},
    {"partner": "P001", "operations": [WANGWU], "colour": "blue"},
    {"partner": "P001", "request_id": "P002-api-1", "operations": [WANGWU]},
    ["not", "a", "mapping"],
], ids=["bad-email", "unknown-op", "no-operations", "operations-missing", "bad-partner-code", "unknown-key",
        "request-id-of-another-partner", "not-a-mapping"])
def test_an_invalid_body_is_400_with_json_problems_and_changes_nothing(console: Console, body):
    env = console.env
    before = directory_state(env)
    answer = post(console, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["status"] == 400 and error["error"]
    assert directory_state(env) == before
    assert env.search("(uid=wangwu)") == []


def test_a_body_that_is_not_json_is_400(console: Console):
    with console.client() as client:
        answer = client.post("/api/v1/requests", content=b'{"partner": "P001", "operations": [',
                             headers={"Content-Type": "application/json"}, auth=ZHANGSAN)
    assert answer.status_code == 400 and answer.json()["status"] == 400


def test_a_body_a_cross_site_form_could_send_is_refused(console: Console):
    """A page elsewhere can make a browser POST text/plain or a form without asking (no CORS
    preflight), with the Basic credentials the browser remembers: such a body is not a request."""
    import json

    env = console.env
    before = directory_state(env)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        with console.client() as client:
            answer = client.post("/api/v1/requests", content=json.dumps({"partner": "P001", "operations": [WANGWU]}),
                                 headers={"Content-Type": content_type}, auth=ZHANGSAN)
        assert answer.status_code == 400, (content_type, answer.text)
    assert directory_state(env) == before
    assert env.search("(uid=wangwu)") == []


SECRET = "Xq7-Secret-Pw-4411"


@pytest.mark.parametrize("operation", [
    WANGWU | {"email": SECRET},
    WANGWU | {"mobile": SECRET},
    WANGWU | {"username": SECRET},
    WANGWU | {"initial_password": 12345, "title": {"x": SECRET}},
    WANGWU | {SECRET: "x"},
    WANGWU | {"roles": SECRET},
    {"op": "disable_user", "username": "zhangsan", "reason": SECRET},
    {"op": "reset_password", "username": "zhangsan", "new_password": SECRET, "extra": SECRET},
], ids=["email", "mobile", "username", "nested", "as-a-key", "roles", "reason", "next-to-new_password"])
def test_a_password_in_a_wrong_field_is_not_echoed(console: Console, operation):
    answer = post(console, {"partner": "P001", "operations": [operation]})
    assert answer.status_code == 400, answer.text
    assert answer.json()["problems"]
    assert SECRET not in answer.text
    assert SECRET not in console.log()


def test_a_password_in_a_wrong_request_field_is_not_echoed(console: Console):
    for body in ({"partner": "P001", "requested_by": SECRET, "operations": [WANGWU]},
                 {"partner": "P001", "request_id": SECRET, "operations": [WANGWU]},
                 {"partner": SECRET, "operations": [WANGWU]}):
        answer = post(console, body)
        assert answer.status_code == 400, answer.text
        assert SECRET not in answer.text
    with console.client() as client:  # a broken document with a password in it
        answer = client.post("/api/v1/requests", content=('{"partner": "P001", "operations": [{"op": "reset_password", '
                                                          f'"new_password": "{SECRET}"').encode(),
                             headers={"Content-Type": "application/json"}, auth=ZHANGSAN)
    assert answer.status_code == 400 and SECRET not in answer.text


def test_a_password_given_as_the_op_is_not_echoed(console: Console):
    answer = post(console, {"partner": "P001", "operations": [{"op": SECRET, "username": "wangwu"}]})
    assert answer.status_code == 400
    assert SECRET not in answer.text


def test_a_request_the_pipeline_rejects_is_400_with_its_result(console: Console):
    env = console.env
    answer = post(console, {"request_id": "P001-api-bad", "partner": "P001",
                            "operations": [WANGWU | {"roles": ["no-such-role"]}]})
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["result"]["status"] == "rejected"
    assert any("unknown role" in p for p in error["result"]["problems"])
    assert env.result("P001-api-bad")["status"] == "rejected"
    assert env.search("(uid=wangwu)") == []


# -- 401 ------------------------------------------------------------------------------------


def test_401_without_credentials_or_with_wrong_ones_is_one_answer(console: Console):
    env = console.env
    env.request([LISI], request_id="P001-lisi")  # on the password zhangsan gave: it may bind
    env.request([{"op": "disable_user", "username": "lisi"}], request_id="P001-lisi-off")
    env.request([LISI | {"username": "zhaoliu", "initial_password": "Zhaoliu-Init-9"}], request_id="P001-zhaoliu")
    lock(env, account_dn("zhaoliu"))
    body = {"partner": "P001", "operations": [WANGWU]}
    before = directory_state(env)

    with console.client() as client:
        anonymous = client.post("/api/v1/requests", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    assert anonymous.json()["status"] == 401

    answers = {
        "wrong password": post(console, body, ("zhangsan", "Not-His-Password-1")),
        "unknown user": post(console, body, ("nobody", ZHANGSAN_PW)),
        "disabled": post(console, body, ("lisi", LISI["initial_password"])),
        "locked": post(console, body, ("zhaoliu", "Zhaoliu-Init-9")),
        "empty password": post(console, body, ("zhangsan", "")),
    }
    for what, answer in answers.items():
        assert answer.status_code == 401, (what, answer.text)
        assert answer.headers["www-authenticate"] == 'Basic realm="mopldap"', what
        assert answer.json() == {"status": 401, "error": WRONG}, what
    # GETs likewise
    for path in ("/api/v1/requests/P001-HQ-1", "/api/v1/partners/P001/accounts"):
        answer = get(console, path, ("zhangsan", "Not-His-Password-1"))
        assert answer.status_code == 401 and answer.json()["error"] == WRONG
        assert get(console, path, None).status_code == 401
    assert directory_state(env) == before
    assert env.search("(uid=wangwu)") == []


def test_a_suspended_partners_administrator_is_not_let_in(console: Console):
    env = console.env
    env.request([{"op": "suspend_partner"}], requested_by="hqadmin", request_id="P001-HQ-suspend")
    answer = get(console, "/api/v1/partners/P001/accounts")
    assert answer.status_code == 401 and answer.json()["error"] == WRONG
    assert post(console, {"partner": "P001", "operations": [WANGWU]}).status_code == 401
    assert env.search("(uid=wangwu)") == []


# -- 403 ------------------------------------------------------------------------------------


def test_403_for_naming_another_requester(console: Console):
    env = console.env
    for someone in ("hqadmin", "qianba"):
        answer = post(console, {"partner": "P001", "requested_by": someone, "operations": [WANGWU]})
        assert answer.status_code == 403, answer.text
        assert "yourself" in answer.json()["error"]
    # naming oneself is fine
    answer = post(console, {"partner": "P001", "requested_by": "zhangsan", "operations": [WANGWU]})
    assert answer.status_code == 200 and answer.json()["requested_by"] == "zhangsan"
    assert env.search("(uid=wangwu)")


def test_403_for_a_partner_admin_acting_on_another_partner_or_as_hq(console: Console):
    env = with_second_partner(console.env)
    before = directory_state(env)
    refused = [
        {"partner": "P002", "operations": [{"op": "disable_user", "username": "qianba"}]},
        {"partner": "P002", "request_id": "P002-api-1", "operations": [WANGWU]},
        {"partner": "P001", "operations": [{"op": "create_partner", "name": "X",
                                            "admin": {"username": "zz", "name": "Z", "user_type": "service"}}]},
        {"partner": "P009", "operations": [{"op": "create_partner", "name": "X",
                                            "admin": {"username": "zz", "name": "Z", "user_type": "service"}}]},
        {"partner": "P001", "operations": [{"op": "suspend_partner"}]},
        {"partner": "P002", "operations": [{"op": "suspend_partner"}]},
    ]
    for body in refused:
        answer = post(console, body)
        assert answer.status_code == 403, (body, answer.text)
        assert answer.json()["status"] == 403
    assert directory_state(env) == before
    assert not (env.outbox / "P002-api-1.result.yaml").exists()


def test_403_for_a_staff_member_filing_a_request(console: Console):
    env = console.env
    env.request([LISI], request_id="P001-lisi")
    env.own_password(account_dn("lisi"), LISI["initial_password"], "Lisi-Own-Choice-7")
    answer = post(console, {"partner": "P001", "operations": [WANGWU]}, ("lisi", "Lisi-Own-Choice-7"))
    assert answer.status_code == 403, answer.text
    assert env.search("(uid=wangwu)") == []
    assert get(console, "/api/v1/partners/P001/accounts", ("lisi", "Lisi-Own-Choice-7")).status_code == 403


def test_403_until_a_person_whose_password_was_set_changes_it(console: Console):
    env = console.env
    env.request([LISI], request_id="P001-lisi")  # pwdReset: TRUE
    lisi = ("lisi", LISI["initial_password"])
    for answer in (post(console, {"partner": "P001", "operations": [{"op": "enable_user", "username": "lisi"}]}, lisi),
                   get(console, "/api/v1/requests/P001-lisi", lisi),
                   get(console, "/api/v1/partners/P001/accounts", lisi)):
        assert answer.status_code == 403, answer.text
        message = answer.json()["error"]
        assert "change" in message and "password" in message
    # an administrator reset: the same for zhangsan, although he may manage P001
    env.request([{"op": "reset_password", "username": "zhangsan", "new_password": "Reset-By-Hq-5"}],
                requested_by="hqadmin", request_id="P001-HQ-reset")
    answer = post(console, {"partner": "P001", "operations": [WANGWU]}, ("zhangsan", "Reset-By-Hq-5"))
    assert answer.status_code == 403 and "change" in answer.json()["error"]
    assert env.search("(uid=wangwu)") == []


# -- 404, 409 and GET /api/v1/requests/<id> ---------------------------------------------------


def test_get_a_result_the_caller_may_see(console: Console):
    env = console.env
    posted = post(console, {"request_id": "P001-api-7", "partner": "P001", "operations": [WANGWU]}).json()
    for auth in (ZHANGSAN, HQADMIN):
        answer = get(console, "/api/v1/requests/P001-api-7", auth)
        assert answer.status_code == 200, answer.text
        assert answer.json() == env.result("P001-api-7")
        assert answer.json()["status"] == "applied" and "passwords" not in answer.json()
        assert posted["passwords"]["wangwu"] not in answer.text
    # a request of the partner filed by HQ through the inbox
    answer = get(console, "/api/v1/requests/P001-HQ-1")
    assert answer.status_code == 200 and answer.json()["requested_by"] == "hqadmin"


def test_404_for_an_unknown_result_and_for_another_partners(console: Console):
    env = with_second_partner(console.env)
    assert env.result("P002-HQ-1")["status"] == "applied"
    unknown = get(console, "/api/v1/requests/P001-no-such-request")
    assert unknown.status_code == 404 and unknown.json()["status"] == 404
    other = get(console, "/api/v1/requests/P002-HQ-1")
    assert other.status_code == 404, other.text
    # the same answer as for a request that does not exist: not even its existence is confirmed
    assert other.json()["error"] == unknown.json()["error"].replace("P001-no-such-request", "P002-HQ-1")
    assert get(console, "/api/v1/requests/P002-HQ-1", HQADMIN).status_code == 200
    for odd in ("..", ".hidden", "P001-HQ-1.result", "init-hq-admin-hqadmin", "init-hq-admin-hqadmin.secret"):
        answer = get(console, f"/api/v1/requests/{odd}")
        assert answer.status_code == 404, (odd, answer.text)
        assert "password" not in answer.text


def test_409_for_a_request_id_used_before(console: Console):
    env = console.env
    body = {"request_id": "P001-api-dup", "partner": "P001", "operations": [WANGWU]}
    first = post(console, body)
    assert first.status_code == 200
    again = post(console, body | {"operations": [WANGWU | {"username": "wangwu2"}]})
    assert again.status_code == 409, again.text
    assert again.json()["status"] == 409 and "P001-api-dup" in again.json()["error"]
    assert again.json()["result"]["status"] == "duplicate"
    assert env.search("(uid=wangwu2)") == []
    # the first result stands
    assert env.result("P001-api-dup")["status"] == "applied"
    assert get(console, "/api/v1/requests/P001-api-dup").json()["status"] == "applied"
    # a request of the inbox's id too
    assert post(console, body | {"request_id": "P001-HQ-1"}).status_code == 409


# -- GET /api/v1/partners/<code>/accounts ----------------------------------------------------


def test_a_partner_admin_lists_its_accounts(console: Console):
    env = console.env
    env.request([LISI], request_id="P001-lisi")
    env.request([{"op": "disable_user", "username": "lisi", "reason": "offboarded"}], request_id="P001-lisi-off")
    answer = get(console, "/api/v1/partners/P001/accounts")
    assert answer.status_code == 200, answer.text
    listing = answer.json()
    assert listing["partner"] == "P001"
    rows = {row["username"]: row for row in listing["accounts"]}
    assert set(rows) == {"zhangsan", "lisi"}
    zhangsan, lisi = rows["zhangsan"], rows["lisi"]
    for row in rows.values():
        assert {"status", "roles", "systems", "last_login", "days_until_lock"} <= set(row)
        assert not any("password" in key.lower() for key in row)
    assert zhangsan["status"] == "active" and zhangsan["roles"] == ["partner-admin"]
    assert "mop-sales" in zhangsan["systems"]
    assert zhangsan["last_login"] is not None  # this very call
    assert isinstance(zhangsan["days_until_lock"], int)
    assert lisi["status"] == "disabled" and lisi["systems"] == [] and lisi["disabled_reason"] == "offboarded"
    assert lisi["disabled_at"] is not None
    # HQ sees the same accounts; the console's filters apply
    hq = get(console, "/api/v1/partners/P001/accounts", HQADMIN).json()
    assert [row["username"] for row in hq["accounts"]] == [row["username"] for row in listing["accounts"]]
    only = get(console, "/api/v1/partners/P001/accounts?status=disabled").json()["accounts"]
    assert [row["username"] for row in only] == ["lisi"]


def test_a_partner_admin_cannot_list_another_partner(console: Console):
    env = with_second_partner(console.env)
    answer = get(console, "/api/v1/partners/P002/accounts")
    assert answer.status_code == 403, answer.text
    assert "qianba" not in answer.text
    # a partner that does not exist gets the same answer: nothing is learnt
    assert get(console, "/api/v1/partners/P404/accounts").status_code == 403
    # HQ sees P002, and 404 for a partner that does not exist
    hq = get(console, "/api/v1/partners/P002/accounts", HQADMIN)
    assert hq.status_code == 200 and [row["username"] for row in hq.json()["accounts"]] == ["qianba"]
    for code in ("P404", "p002", "P0%2F02"):
        answer = get(console, f"/api/v1/partners/{code}/accounts", HQADMIN)
        assert answer.status_code == 404, (code, answer.text)
        assert answer.json()["status"] == 404
    assert env.search("(uid=qianba)")


# -- the rest --------------------------------------------------------------------------------


def test_the_openapi_document_names_the_three_paths(console: Console):
    with console.client() as client:
        answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/requests", "/api/v1/requests/{request_id}", "/api/v1/partners/{code}/accounts"} <= \
        set(document["paths"])
    assert "post" in document["paths"]["/api/v1/requests"]
    assert not any(path.startswith("/partners") or path == "/signin" for path in document["paths"])
    answers = document["paths"]["/api/v1/requests"]["post"]["responses"]
    assert {"400", "401", "403", "409"} <= set(answers) and "422" not in answers  # what the API really answers
    assert answers["403"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_an_api_call_counts_as_a_login(console: Console):
    env = console.env
    qianba = never_signed_in_admin(env)
    answer = get(console, "/api/v1/partners/P002/accounts", qianba)
    assert answer.status_code == 200, answer.text
    (last,) = last_login(env, account_dn("qianba", "P002"))
    assert recent(last)
    (row,) = get(console, "/api/v1/partners/P002/accounts", qianba).json()["accounts"]
    assert row["last_login"] is not None and row["last_login"].startswith(f"{last[:4]}-{last[4:6]}-{last[6:8]}")


def test_an_api_call_refused_for_a_password_to_change_still_counts_as_a_login(console: Console):
    env = console.env
    env.request([LISI], request_id="P001-lisi")
    assert last_login(env, account_dn("lisi")) == []
    assert get(console, "/api/v1/requests/P001-lisi", ("lisi", LISI["initial_password"])).status_code == 403
    (last,) = last_login(env, account_dn("lisi"))
    assert recent(last)


def test_a_wrong_password_at_the_api_is_counted_by_the_password_policy(console: Console):
    env = console.env
    dn = account_dn("zhangsan")
    assert failures(env, dn) == []
    assert post(console, {"partner": "P001", "operations": [WANGWU]}, ("zhangsan", "Not-His-Password-1")) \
        .status_code == 401
    assert len(failures(env, dn)) == 1
