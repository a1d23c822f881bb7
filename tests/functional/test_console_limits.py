"""What the review of the console found, held: bodies are bounded before anyone is known, a request
is never answered with someone else's passwords, a password change ends the old password's
sessions, a stolen session cannot guess the current password, and a write the disk interrupts is
kept for the next run and said to be pending."""

from __future__ import annotations

import yaml

from conftest import LISI, ZHANGSAN_PW, Console, account_dn

ZHANGSAN = ("zhangsan", ZHANGSAN_PW)


def test_a_body_too_large_is_refused_before_it_is_read_or_anyone_signed_in(console: Console):
    with console.client() as client:
        declared = client.post("/api/v1/requests", content=b"x" * (1024 * 1024 + 1),
                               headers={"Content-Type": "application/json"})
        chunked = client.post("/api/v1/requests", content=iter([b"{" + b" " * 65536] * 20),
                              headers={"Content-Type": "application/json"})
        form = client.post("/signin", content=iter([b"a=" + b"b" * 65536] * 20),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (declared.status_code, chunked.status_code, form.status_code) == (413, 413, 413)


def test_no_credentials_is_401_even_with_a_broken_body(console: Console):
    with console.client() as client:
        answer = client.post("/api/v1/requests", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Basic")


def test_a_request_id_of_another_requester_is_refused_and_its_passwords_stay(console: Console):
    env = console.env
    env.outbox.joinpath("P001-hq-7.result.yaml").write_text(yaml.safe_dump(
        {"request_id": "P001-hq-7", "status": "failed", "requested_by": "hqadmin", "partner": "P001"}))
    env.outbox.joinpath("P001-hq-7.secret").write_text("lisi: Generated-By-HQ-123\n")
    with console.client() as client:
        answer = client.post("/api/v1/requests", auth=ZHANGSAN,
                             json={"request_id": "P001-hq-7", "partner": "P001",
                                   "operations": [{k: v for k, v in LISI.items() if k != "initial_password"}]})
    assert answer.status_code == 409 and "Generated-By-HQ-123" not in answer.text
    assert env.outbox.joinpath("P001-hq-7.secret").read_text() == "lisi: Generated-By-HQ-123\n"
    assert env.entry(account_dn("lisi")) is None


def test_a_password_change_ends_the_other_sessions_of_that_person(console: Console):
    other, _ = console.sign_in("zhangsan", ZHANGSAN_PW)
    assert other.get("/partners/P001").status_code == 200
    client, page = console.sign_in("zhangsan", ZHANGSAN_PW)
    form = client.get("/password")
    done = client.post("/password", data={"csrf": console.csrf(form.text), "old_password": ZHANGSAN_PW,
                                          "new_password": "Zhangsan-Newer-2026", "again": "Zhangsan-Newer-2026"})
    assert done.status_code == 200 and 'id="changed"' in done.text
    assert other.get("/partners/P001").headers.get("location") == "/signin"  # the old password's session
    assert client.get("/partners/P001").status_code == 200  # the one that changed it goes on


def test_three_wrong_current_passwords_end_the_session(console: Console):
    client, _ = console.sign_in("zhangsan", ZHANGSAN_PW)
    answers = []
    for attempt in range(3):
        form = client.get("/password")
        answers.append(client.post("/password", data={"csrf": console.csrf(form.text), "old_password": f"Guess-{attempt}-x",
                                                      "new_password": "Zhangsan-Newer-2026",
                                                      "again": "Zhangsan-Newer-2026"}))
    assert [a.status_code for a in answers] == [400, 400, 303]
    assert "The current password is wrong." in answers[0].text
    assert client.get("/partners/P001").headers.get("location") == "/signin"
    assert console.env.can_bind(account_dn("zhangsan"), ZHANGSAN_PW)


def test_a_write_the_full_disk_interrupts_is_pending_and_the_next_run_applies_it(console: Console, small_fs):
    env = console.env
    small_fs(env.outbox, "64k")
    filler = env.outbox / "filler"
    with open(filler, "wb") as out:
        try:
            out.write(b"\0" * 65536)
        except OSError:
            pass
    with console.client() as client:
        answer = client.post("/api/v1/requests", auth=ZHANGSAN, json={"partner": "P001", "operations": [LISI]})
    assert answer.status_code == 202, answer.text
    rid = answer.json()["request_id"]
    assert "next run" in answer.json()["problems"][0]
    filler.unlink()
    env.cli("sync", "--only", "inbox")
    result = yaml.safe_load((env.outbox / f"{rid}.result.yaml").read_text())
    assert result["status"] == "applied" and result["requested_by"] == "zhangsan"
    assert env.entry(account_dn("lisi")) is not None
