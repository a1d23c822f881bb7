"""Mail through a real SMTP server on a loopback port (aiosmtpd): plain on loopback, STARTTLS with
a login, implicit TLS, a wrong login, an unverifiable certificate, a server that is down."""

from __future__ import annotations

import ssl

from aiosmtpd.smtp import AuthResult

from conftest import free_port

USER, PASSWORD = "mopldap", "smtp-secret-1"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself




def tls(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


def test_a_sample_mail_reaches_a_plain_server_on_loopback(env, smtp_server):
    inbox, port = smtp_server()
    env.write_config(notify={"smtp": {"host": "127.0.0.1", "port": port, "security": "none", "from": "mop@example.com"}})
    result = env.cli("notify", "test", "lisi@p001.example.com")
    assert "sent a sample warning to lisi@p001.example.com" in result.out
    [message] = inbox.messages
    assert (message["From"], message["To"]) == ("mop@example.com", "lisi@p001.example.com")
    assert "因长期未登录被禁用" in message["Subject"]
    kinds = [part.get_content_type() for part in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert "李四" in message.get_body(("plain",)).get_content() and "<b>lisi</b>" in message.get_body(("html",)).get_content()


def test_starttls_with_a_login_and_implicit_tls(env, smtp_server, certificate):
    (env.config_path.parent / "smtp.password").write_text(PASSWORD)
    inbox, port = smtp_server(tls_context=tls(certificate), require_starttls=True, auth_required=True,
                              authenticator=authenticate)
    env.write_config(notify={"smtp": {"host": "127.0.0.1", "port": port, "security": "starttls", "from": "mop@example.com",
                                      "ca_file": str(certificate[0]), "user": USER, "password_file": "smtp.password"}})
    env.cli("notify", "test", "lisi@p001.example.com", "--language", "en")
    assert "Your MOP account will be disabled" in inbox.messages[0]["Subject"]
    implicit, port = smtp_server(ssl_context=tls(certificate))
    env.write_config(notify={"smtp": {"host": "127.0.0.1", "port": port, "security": "ssl", "from": "mop@example.com",
                                      "ca_file": str(certificate[0])}})
    env.cli("notify", "test", "lisi@p001.example.com")
    assert len(implicit.messages) == 1


def test_a_wrong_login_an_unverified_certificate_and_a_server_down_are_one_line_each(env, smtp_server, certificate):
    (env.config_path.parent / "smtp.password").write_text("not-the-password")
    inbox, port = smtp_server(tls_context=tls(certificate), require_starttls=True, auth_required=True,
                              authenticator=authenticate)
    smtp = {"host": "127.0.0.1", "port": port, "security": "starttls", "from": "mop@example.com",
            "ca_file": str(certificate[0]), "user": USER, "password_file": "smtp.password"}
    env.write_config(notify={"smtp": smtp})
    wrong = env.cli("notify", "test", "lisi@p001.example.com", expect=2)
    assert wrong.err.strip() == (f"mopldap: mail server 127.0.0.1:{port}: the login was refused: check "
                                 "notify.smtp.user and password_file")
    env.write_config(notify={"smtp": {k: v for k, v in smtp.items() if k != "ca_file"}})
    unverified = env.cli("notify", "test", "lisi@p001.example.com", expect=2)
    assert "its certificate could not be verified" in unverified.err and len(unverified.err.strip().splitlines()) == 1
    env.write_config(notify={"smtp": {"host": "127.0.0.1", "port": free_port(), "security": "none",
                                      "from": "mop@example.com"}})
    down = env.cli("notify", "test", "lisi@p001.example.com", expect=2)
    assert "connection refused or timed out; is the mail server running?" in down.err
    assert inbox.messages == [] and "not-the-password" not in wrong.err + unverified.err + down.err


def test_every_template_renders_in_both_languages_and_a_customers_replaces_the_shipped_one(env):
    for kind in ("warning", "locked", "digest", "hq-digest"):
        for lang in ("zh", "en"):
            shown = env.cli("notify", "preview", kind, "--language", lang).out
            assert shown.startswith("Subject: ") and "--- HTML ---" in shown
    folder = env.config_path.parent / "mail"
    folder.mkdir()
    (folder / "locked.zh.txt").write_text("Subject: 帐号已禁用 {{ person.username }}\n请联系 {{ admins[0].name }}\n")
    env.write_config(notify={"templates": "mail"})
    assert env.cli("notify", "preview", "locked").out.startswith("Subject: 帐号已禁用 lisi\n\n请联系 张三")
    (folder / "locked.zh.txt").write_text("Subject: {{ nosuch.value }}\n")
    broken = env.cli("notify", "preview", "locked", expect=1)
    assert broken.err.startswith("mopldap: mail template locked.zh") and "'nosuch' is undefined" in broken.err
