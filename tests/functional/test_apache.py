"""A real application in front of the directory: Debian's Apache httpd with mod_authnz_ldap, set
up with the project's apache/mop-systems.conf exactly as the README tells (StartTLS, verified).
HTTP requests show that mopldap's decisions reach people: who gets in, who is refused, when."""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BASE_DN, ROOT, Env, account_dn, free_port, wait_for_port

APP_DN = f"cn=app-service,ou=services,{BASE_DN}"
APP_PASSWORD = "App-Service-Secret-1"
MODULES = ["mpm_event", "authz_core", "authn_core", "auth_basic", "ldap", "authnz_ldap", "mime", "dir"]


class Apache:
    def __init__(self, root: Path, env: Env) -> None:
        self.root = root
        self.port = free_port()
        ldap_url = env.server.ldap_uri.rstrip("/")
        site = (ROOT / "apache" / "mop-systems.conf").read_text(encoding="utf-8")
        for key, value in {"@LDAP_URL@": ldap_url, "@BASE_DN@": BASE_DN, "@APP_DN@": APP_DN,
                           "@APP_PASSWORD@": APP_PASSWORD, "@CA_FILE@": env.server.cafile, "@TLS@": "STARTTLS"}.items():
            site = site.replace(key, value)
        (root / "htdocs" / "mop-service").mkdir(parents=True)
        (root / "htdocs" / "mop-service" / "index.html").write_text("MOP service\n")
        (root / "mop-systems.conf").write_text(site, encoding="utf-8")
        loads = "\n".join(f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in MODULES)
        (root / "httpd.conf").write_text(f"""{loads}
ServerRoot {root}
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile {root}/httpd.pid
ErrorLog {root}/error.log
LogLevel warn ldap:info authnz_ldap:info
User www-data
Group www-data
DocumentRoot {root}/htdocs
TypesConfig /etc/mime.types
Include {root}/mop-systems.conf
""", encoding="utf-8")
        shutil.chown(root, "www-data")
        root.chmod(0o755)

    def start(self) -> None:
        proc = subprocess.run(["apache2", "-f", str(self.root / "httpd.conf"), "-k", "start"],
                              capture_output=True, text=True, env={"APACHE_RUN_DIR": str(self.root), "PATH": "/usr/sbin:/usr/bin"})
        assert proc.returncode == 0, proc.stderr
        assert wait_for_port(self.port), f"apache did not listen: {(self.root / 'error.log').read_text()}"

    def stop(self) -> None:
        subprocess.run(["apache2", "-f", str(self.root / "httpd.conf"), "-k", "stop"], capture_output=True,
                       env={"APACHE_RUN_DIR": str(self.root), "PATH": "/usr/sbin:/usr/bin"})

    def get(self, username: str, password: str) -> int:
        """The HTTP status of GET /mop-service/ as `username`."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/mop-service/")
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code


@pytest.fixture
def apache(partner: Env) -> Iterator[Apache]:
    if shutil.which("apache2", path="/usr/sbin:/usr/bin") is None:
        pytest.fail("apache2 is not installed: `apt-get install -y apache2` (.ci/run does)", pytrace=False)
    env = partner
    env.write_config(access={"first_password_gate": True})  # the shipped default
    env.ldap_tool("ldapadd", input=f"dn: {APP_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n"
                                   f"cn: app-service\nuserPassword: {APP_PASSWORD}\n")  # as the README creates it
    env.ldapmodify(f"dn: cn=applications,ou=services,{BASE_DN}\nchangetype: modify\nadd: member\nmember: {APP_DN}\n")
    root = Path(tempfile.mkdtemp(prefix="mopldap-httpd-"))  # under /tmp: Apache's workers (www-data) reach it
    server = Apache(root, env)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def staff(username: str, roles: list[str], user_type: str = "service") -> dict:
    return {"op": "create_user", "username": username, "name": username, "user_type": user_type, "roles": roles,
            "initial_password": f"{username.title()}-Init-2026"}


def test_apache_lets_in_exactly_the_people_mopldap_grants_the_system(partner: Env, apache: Apache):
    env = partner
    env.request([staff("lisi", ["service-specialist"]), staff("wangwu", ["sales-manager"], "sales")])
    # still on the password the administrator chose: refused
    assert apache.get("lisi", "Lisi-Init-2026") == 401
    env.own_password(account_dn("lisi"), "Lisi-Init-2026", "Lisi-Own-Choice-7")
    env.own_password(account_dn("wangwu"), "Wangwu-Init-2026", "Wangwu-Own-Choice-7")
    env.cli("sync")
    assert apache.get("lisi", "Lisi-Own-Choice-7") == 200  # a role granting the system
    assert apache.get("wangwu", "Wangwu-Own-Choice-7") == 401  # no role granting it
    assert apache.get("lisi", "wrong-password") == 401
    env.request([{"op": "disable_user", "username": "lisi", "reason": "offboarded"}])
    assert apache.get("lisi", "Lisi-Own-Choice-7") == 401  # at the next request
    env.request([{"op": "enable_user", "username": "lisi"}])
    assert apache.get("lisi", "Lisi-Own-Choice-7") == 200


def test_apache_refuses_a_person_locked_for_inactivity(partner: Env, apache: Apache):
    env = partner
    env.request([staff("idle1", ["service-specialist"]), staff("busy1", ["service-specialist"])])
    for user in ("idle1", "busy1"):
        env.ldapmodify(f"dn: {account_dn(user)}\nchangetype: modify\ndelete: pwdReset\n")  # as if set by them
    env.cli("sync")
    env.age(["idle1", "busy1"], days=31)
    assert apache.get("busy1", "Busy1-Init-2026") == 200  # busy1 logs in: the bind is recorded
    assert "1 locked" in env.cli("lock-inactive").out
    assert apache.get("idle1", "Idle1-Init-2026") == 401
    assert apache.get("busy1", "Busy1-Init-2026") == 200
