"""A real slapd for the functional tests, built the way the README tells customers.

One server per test session (python-slapd's pattern: temporary folder, free port,
ldapi with SASL EXTERNAL), configured with Debian's default database and then
`schema/*.ldif` loaded with `ldapadd -Y EXTERNAL`. Each test gets an empty tree,
its own config file and var/ folder.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import json
import os
import socket
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from mopldap.cli import main
from mopldap.model.config import LdapConfig, load_settings
from mopldap.ldap.slapd import INSTALL_HINT, MopSlapd, local_identity
from mopldap.ldap.directory import Directory
from mopldap.model.entry import Entry

ROOT = Path(__file__).resolve().parents[2]
BASE_DN = "dc=example,dc=com"
ROOT_PW = "test-root-secret"
SERVICE_DN = f"cn=mopldap,ou=services,{BASE_DN}"
SERVICE_PW = "test-service-secret-1"
LISI = {"op": "create_user", "username": "lisi", "name": "李四", "user_type": "service",
        "roles": ["service-specialist"], "initial_password": "Lisi-Init-2026!"}
"""P001's staff member most tests create (as its administrator zhangsan)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 10) -> bool:
    """Wait until something listens on 127.0.0.1:`port`; True if it does within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def run_mopldap(*args: str, env: dict | None = None, cwd: Path | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """`mopldap ARGS` as its own process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "mopldap.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def start_mopldap(*args: str, stderr=subprocess.PIPE) -> subprocess.Popen:
    """`mopldap ARGS` started as its own process (to be killed, stopped or waited for)."""
    return subprocess.Popen([sys.executable, "-m", "mopldap.cli", *args], stdout=subprocess.PIPE, stderr=stderr,
                            text=True)


def last_line(result: Result) -> str:
    """The last line mopldap wrote to stderr: the one-line message of an error."""
    return result.err.strip().splitlines()[-1]


def ldap_operations(result: Result) -> dict[str, int]:
    """The LDAP operations a run counted (its run_done line): what the scale tests compare."""
    return next(json.loads(line) for line in result.err.splitlines() if '"event": "run_done"' in line)["ldap_operations"]


def stop_slapd(server: MopSlapd, sig: int = signal.SIGTERM) -> None:
    """The directory goes away: slapd stopped (SIGTERM) or killed (SIGKILL); `_spawn()` brings it back."""
    server._proc.send_signal(sig)
    server._proc.wait()
    server._proc = None


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MopSlapd]:
    if shutil.which("slapd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None or shutil.which("ldapadd") is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    server = MopSlapd(tmp_path_factory.mktemp("slapd"), base_dn=BASE_DN, root_pw=ROOT_PW)
    server.start()
    yield server
    server.stop()


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Env:
    """One test's view: a config pointing at the session's slapd, an empty tree, a var/ folder."""

    server: MopSlapd
    root: Path
    config_path: Path
    overrides: dict = field(default_factory=dict)
    bind_dn: str = SERVICE_DN  # mopldap runs as its own account, under the access rules (mopldap acl)
    consumer: MopSlapd | None = None  # a replica of `server` (fixture `replicated`)

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def inbox(self) -> Path:
        return self.var / "inbox"

    @property
    def outbox(self) -> Path:
        return self.var / "outbox"

    @property
    def archive(self) -> Path:
        return self.var / "archive"

    @property
    def work(self) -> Path:
        return self.var / "work"

    @property
    def processing(self) -> Path:
        return self.work / "processing"

    @property
    def audit_file(self) -> Path:
        return self.var / "audit.jsonl"

    def settings(self):
        return load_settings(self.config_path)

    def write_config(self, **sections: dict) -> None:
        """Rewrite the config with `sections` merged over the test defaults."""
        data = {
            "ldap": {
                "url": self.server.ldap_uri.rstrip("/"),
                "bind_dn": self.bind_dn,
                "bind_password_file": "bind.password",
                "base_dn": BASE_DN,
            },
            "paths": {"role_map": "roles.yaml", "inbox": "../var/inbox", "outbox": "../var/outbox",
                      "archive": "../var/archive"},
            "logging": {"format": "json", "audit_file": "../var/audit.jsonl"},
            # most tests are about something else than a person's first password: the gate is
            # tested on its own (test_first_password.py), with the shipped default (on)
            "access": {"first_password_gate": False},
        }
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        self.config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    def cli(self, *args: str, expect: int | None = 0) -> Result:
        """Run `mopldap --config <this env's config> ARGS` in-process; check the exit code."""
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["--config", str(self.config_path), *args])
        result = Result(code, out.getvalue(), err.getvalue())
        if expect is not None:
            assert code == expect, f"exit {code} != {expect}\nstdout:\n{result.out}\nstderr:\n{result.err}"
        return result

    def directory(self) -> Directory:
        """A connection as the root DN: the tests look at everything (mopldap itself runs as its account)."""
        config, _ = self.settings()
        return Directory(config.ldap, bind_dn=f"cn=admin,{BASE_DN}", password=ROOT_PW).connect()

    def entry(self, dn: str, *attrs: str) -> Entry | None:
        with self.directory() as d:
            return d.read(dn, attrs or ("*", "+"))

    def search(self, filter: str, *attrs: str, base: str = BASE_DN) -> list[Entry]:
        with self.directory() as d:
            return list(d.search(base, filter, attrs or ("*",)))

    def ldap_tool(self, tool: str, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run an OpenLDAP command-line tool as the root DN, as an HQ administrator would."""
        cmd = [tool, "-x", "-H", self.server.ldap_uri, "-D", f"cn=admin,{BASE_DN}", "-w", ROOT_PW, *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"{tool} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def ldapmodify(self, ldif: str) -> None:
        self.ldap_tool("ldapmodify", input=ldif)

    def ldapsearch(self, filter: str, *attrs: str, base: str = BASE_DN) -> str:
        return self.ldap_tool("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b", base, filter, *attrs).stdout

    # -- requests ---------------------------------------------------------------

    def submit(self, operations: list[dict], request_id: str | None = None, requested_by: str = "zhangsan",
               partner: str = "P001", name: str | None = None) -> str:
        """Write a request into the inbox (write, then rename); return its request_id."""
        self._counter = getattr(self, "_counter", 0) + 1
        request_id = request_id or f"{partner}-T{self._counter:04d}"
        body = {"request_id": request_id, "requested_by": requested_by, "partner": partner, "operations": operations}
        self.inbox.mkdir(parents=True, exist_ok=True)
        tmp = self.inbox / f".{name or request_id}.yaml.part"
        tmp.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8")
        tmp.rename(self.inbox / f"{name or request_id}.yaml")
        return request_id

    def result(self, name: str) -> dict:
        return yaml.safe_load((self.outbox / f"{name}.result.yaml").read_text(encoding="utf-8"))

    def request(self, operations: list[dict], expect_status: str | None = "applied", **kwargs) -> dict:
        """Submit one request, run `mopldap sync`, return its result (checking its status)."""
        request_id = self.submit(operations, **kwargs)
        self.cli("sync")
        result = self.result(request_id)
        if expect_status is not None:
            assert result["status"] == expect_status, yaml.safe_dump(result, allow_unicode=True)
        return result

    def secret(self, request_id: str) -> dict:
        return yaml.safe_load((self.outbox / f"{request_id}.secret").read_text(encoding="utf-8"))

    def audit(self) -> list[dict]:
        if not self.audit_file.exists():
            return []
        return [json.loads(line) for line in self.audit_file.read_text(encoding="utf-8").splitlines()]

    def snapshot(self) -> str:
        """Every entry with its entryCSN: equal snapshots mean nothing was written. mopldap's own
        account is left out: slapd records each of its binds there (olcLastBind), to the second."""
        records = self.ldapsearch("(objectClass=*)", "entryCSN", "member").split("\n\n")
        return "\n\n".join(r for r in records if not r.lower().startswith(f"dn: {SERVICE_DN.lower()}\n"))

    def age(self, usernames, days: float, partner: str = "P001") -> None:
        """Make accounts as old as `days` (createTimestamp and pwdChangedTime, set with the Relax
        control, and mopEnabledAt): how the tests move time, since a run may not write future times."""
        moment = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).strftime("%Y%m%d%H%M%SZ")
        ldif = "".join(f"dn: {account_dn(u, partner)}\nchangetype: modify\nreplace: createTimestamp\n"
                       f"createTimestamp: {moment}\n-\nreplace: mopEnabledAt\nmopEnabledAt: {moment}\n-\n"
                       f"replace: pwdChangedTime\npwdChangedTime: {moment}\n\n"
                       for u in usernames)
        self.ldap_tool("ldapmodify", "-e", "relax", input=ldif)
        self.rewind_inactivity_check(days)

    def rewind_inactivity_check(self, days: float) -> None:
        """Move the last inactivity check recorded in mopldap's state `days` into the past, as time
        passing would (`sync` checks again once inactivity.check_every_hours have passed)."""
        state = self.settings()[0].paths.state
        if not state.exists():
            return
        data = json.loads(state.read_text())
        if data.get("inactivity_checked"):
            checked = dt.datetime.fromisoformat(data["inactivity_checked"]) - dt.timedelta(days=days)
            data["inactivity_checked"] = checked.isoformat()
            state.write_text(json.dumps(data))

    def leave_claimed(self, rid: str, operations: list[dict], planned: list[tuple[str, str]] = (),
                      written_after: str = "2026-12-01T00:00:00+00:00", journal: bool = True) -> Path:
        """Leave what a run killed after claiming a request leaves: the claimed file and (if it had
        planned it: `journal`) its journal. Return the processing folder."""
        self.processing.mkdir(parents=True, exist_ok=True)
        claimed = self.processing / f"20261201T000000Z.1.abc__{rid}.yaml"
        claimed.write_text(yaml.safe_dump({"request_id": rid, "requested_by": "zhangsan", "partner": "P001",
                                           "operations": operations}, allow_unicode=True))
        if not journal:
            return self.processing
        (self.processing / f".{claimed.name}.journal").write_text(json.dumps({
            "run_id": "first-run", "written_after": written_after, "request_id": rid,
            "operations": [{"index": i, "op": op["op"], "target": op.get("username", "P001"), "status": status,
                            "message": message} for i, (op, (status, message)) in enumerate(zip(operations, planned))]}))
        return self.processing

    def own_password(self, dn: str, old: str, new: str) -> None:
        """The person sets their own password (RFC 3062, bound as themselves): slapd clears pwdReset."""
        subprocess.run(["ldappasswd", "-x", "-H", self.server.ldap_uri, "-D", dn, "-w", old, "-s", new, dn],
                       check=True, capture_output=True)

    def assert_nowhere(self, secret: str) -> None:
        """`secret` is in no file of the outbox or the archive."""
        for folder in (self.outbox, self.archive):
            for path in folder.rglob("*"):
                assert path.is_dir() or secret not in path.read_text(errors="replace"), path

    def can_bind(self, dn: str, password: str) -> bool:
        proc = subprocess.run(["ldapwhoami", "-x", "-H", self.server.ldap_uri, "-D", dn, "-w", password],
                              capture_output=True, text=True)
        return proc.returncode == 0


def reset_tree(server: MopSlapd) -> None:
    """Delete every entry of the database (the session's server is shared).

    Only when the suffix entry exists: slapd 2.5.13 crashes (SIGSEGV) on a delete
    of the suffix DN of an empty database.
    """
    auth = ["-x", "-H", server.ldap_uri, "-D", f"cn=admin,{BASE_DN}", "-w", ROOT_PW]
    probe = subprocess.run(["ldapsearch", *auth, "-b", BASE_DN, "-s", "base", "1.1"], capture_output=True, text=True)
    if probe.returncode == 32:
        return
    proc = subprocess.run(["ldapdelete", *auth, "-r", BASE_DN], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot reset the test tree: {proc.stderr}")


def secure(server: MopSlapd) -> None:
    """Load the access rules `mopldap acl` prints (once per server), as the README tells customers."""
    if getattr(server, "secured", False):
        return
    from mopldap.plan.acl import acl_ldif

    server.load_ldif(acl_ldif(BASE_DN, SERVICE_DN, local_admin_dn=local_identity()), "loading the access rules")
    server.secured = True


def seed_tree(server: MopSlapd) -> None:
    """What the README has an administrator create before `mopldap init`: the base entry, ou=services
    and mopldap's own account (as the root DN)."""
    from mopldap.model.passwords import hash_password

    ldif = (f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\n"
            f"dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services\n\n"
            f"dn: {SERVICE_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\ncn: mopldap\n"
            f"userPassword: {hash_password(SERVICE_PW, '{SSHA512}')}\n")
    proc = subprocess.run(["ldapadd", "-c", "-x", "-H", server.ldap_uri, "-D", f"cn=admin,{BASE_DN}", "-w", ROOT_PW],
                          input=ldif, capture_output=True, text=True)
    assert proc.returncode in (0, 68), proc.stderr  # 68: already there


def make_env(server: MopSlapd, tmp_path: Path, service: bool = True, rules: bool = True) -> Env:
    """A config for `server` in tmp_path: mopldap bound as its own account under the access rules
    (not yet loaded, without `rules`), or (not `service`) as the root DN, for a server built without
    the pieces the rules name."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    shutil.copy(ROOT / "config" / "roles.yaml", config_dir / "roles.yaml")
    if service and rules:
        secure(server)
    if service:
        seed_tree(server)
    (config_dir / "bind.password").write_text(SERVICE_PW if service else ROOT_PW)
    environment = Env(server, tmp_path, config_dir / "mopldap.yaml",
                      bind_dn=SERVICE_DN if service else f"cn=admin,{BASE_DN}")
    environment.write_config()
    return environment


@pytest.fixture
def env(slapd_server: MopSlapd, tmp_path: Path) -> Env:
    """An empty tree and a fresh config (not yet `init`-ed)."""
    reset_tree(slapd_server)
    return make_env(slapd_server, tmp_path)


@pytest.fixture
def initialized(env: Env) -> Env:
    """An env whose tree `mopldap init` has built."""
    env.cli("init")
    return env


def account_dn(username: str, partner: str = "P001") -> str:
    return f"uid={username},ou={partner},ou=partners,{BASE_DN}"


@pytest.fixture
def partner(initialized: Env) -> Env:
    """An env with HQ administrator `hqadmin` and partner P001 whose administrator is `zhangsan`."""
    return with_partner(initialized)


@pytest.fixture
def own_partner(own_server: MopSlapd, tmp_path: Path) -> Env:
    """As `partner`, on a slapd of this test's own (it may be killed and restarted)."""
    env = make_env(own_server, tmp_path)
    env.cli("init")
    return with_partner(env)


def with_partner(env: Env) -> Env:
    env.cli("init", "--hq-admin", "hqadmin", "--name", "总部管理员")
    env.request([{"op": "create_partner", "name": "杭州某某科技有限公司",
                  "admin": {"username": "zhangsan", "name": "张三", "title": "总经理", "email": "zhangsan@p001.example.com",
                            "mobile": "13800138000", "user_type": "sales", "initial_password": "Zhangsan-Init-1"}}],
                requested_by="hqadmin", request_id="P001-HQ-1")
    return env


def with_second_partner(env: Env) -> Env:
    """Add partner P002, whose administrator is `qianba` (HQ's request)."""
    env.request([{"op": "create_partner", "name": "P2", "admin": {"username": "qianba", "name": "钱八",
                  "user_type": "service", "initial_password": "Qianba-Init-1"}}],
                requested_by="hqadmin", partner="P002", request_id="P002-HQ-1")
    return env


@pytest.fixture(scope="session")
def replica_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MopSlapd]:
    """A second slapd with the same configuration, standing in for a replica that took other binds."""
    server = MopSlapd(tmp_path_factory.mktemp("replica"), base_dn=BASE_DN, root_pw=ROOT_PW)
    server.start()
    yield server
    server.stop()


def copy_tree(source: MopSlapd, target: MopSlapd) -> None:
    """Copy every entry's user attributes from `source` to `target` (as replication would)."""
    auth = ["-x", "-D", f"cn=admin,{BASE_DN}", "-w", ROOT_PW]
    ldif = subprocess.run(["ldapsearch", "-H", source.ldap_uri, *auth, "-LLL", "-o", "ldif-wrap=no", "-b", BASE_DN,
                           "(objectClass=*)", "*", "createTimestamp"], capture_output=True, text=True, check=True).stdout
    reset_tree(target)
    proc = subprocess.run(["ldapadd", "-H", target.ldap_uri, *auth, "-c", "-e", "relax"], input=ldif,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[MopSlapd]:
    """A slapd of this test's own: it can be stopped, started and reconfigured."""
    server = MopSlapd(tmp_path / "slapd", base_dn=BASE_DN, root_pw=ROOT_PW)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def small_fs():
    """Mount a tmpfs of `size` at a folder (root in the test machine; CI runs as root)."""
    mounted: list[Path] = []

    def mount(path: Path, size: str = "256k") -> Path:
        path.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"cannot mount a tmpfs for the disk-full tests (run them as root): {proc.stderr.strip()}",
                        pytrace=False)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# -- the console and the API (mopldap serve) ------------------------------------------------

ZHANGSAN_PW = "Zhangsan-Own-2026"  # P001's administrator, once he chose his own password
HQADMIN_PW = "Hqadmin-Own-2026"
QIANBA_PW = "Qianba-Own-2026"  # P002's administrator (with_second_partner), likewise


@dataclass
class Console:
    """`mopldap serve` running as its own process for one test's env, and how to talk to it."""

    env: Env
    proc: subprocess.Popen
    url: str

    def client(self, lang: str = "en"):
        import httpx

        return httpx.Client(base_url=self.url, headers={"Accept-Language": lang}, timeout=30)

    @staticmethod
    def csrf(html: str) -> str:
        import re

        return re.search(r'name="csrf" value="([^"]+)"', html).group(1)

    def sign_in(self, username: str, password: str, lang: str = "en"):
        """A client signed in as `username` (cookies kept), and the page it landed on."""
        client = self.client(lang)
        page = client.get("/signin")
        answer = client.post("/signin", data={"csrf": self.csrf(page.text), "username": username, "password": password},
                             follow_redirects=True)
        return client, answer

    def log(self) -> str:
        """What the server logged so far (it is stopped first)."""
        self.stop()
        return self.proc.stderr.read() if self.proc.stderr else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_console(env: Env, **sections: dict) -> Console:
    """Start `mopldap serve` for `env` on a free loopback port and wait until it answers. With
    `sections`, the config is rewritten first (the first password gate on, as shipped, unless
    `access` says otherwise)."""
    port = free_port()
    env.write_config(**({"access": {"first_password_gate": True}} | sections))
    proc = subprocess.Popen([sys.executable, "-m", "mopldap.cli", "--config", str(env.config_path), "serve",
                             "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    if not wait_for_port(port, 30):
        proc.kill()
        raise AssertionError(f"mopldap serve did not start: {proc.stderr.read() if proc.stderr else ''}")
    return Console(env, proc, f"http://127.0.0.1:{port}")


def own_passwords(env: Env) -> Env:
    """hqadmin and zhangsan set their own passwords (their first, set for them, only allows that)."""
    hq_pw = yaml.safe_load((env.outbox / "init-hq-admin-hqadmin.secret").read_text())["password"]
    env.own_password(f"uid=hqadmin,ou=hq,{BASE_DN}", hq_pw, HQADMIN_PW)
    env.own_password(account_dn("zhangsan"), "Zhangsan-Init-1", ZHANGSAN_PW)
    return env


@pytest.fixture
def console(partner: Env) -> Iterator[Console]:
    """Partner P001 (administrator zhangsan, password ZHANGSAN_PW) and HQ's hqadmin (HQADMIN_PW),
    with `mopldap serve` running for them; the first password gate on, as shipped."""
    own_passwords(partner)
    running = start_console(partner)
    yield running
    running.stop()


# -- replication: a provider and a refreshAndPersist consumer, configured as the README says -----


def replication_ldif(name: str, **values: str) -> str:
    """config/replication/NAME.ldif with its placeholders filled in."""
    text = (ROOT / "config" / "replication" / f"{name}.ldif").read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(key, value)
    return text


@pytest.fixture(scope="module")
def replication(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MopSlapd, MopSlapd]]:
    """(provider, consumer): two slapd servers with the project's configuration, the provider with
    syncprov, the consumer replicating it (refreshAndPersist) as its root DN."""
    provider = MopSlapd(tmp_path_factory.mktemp("provider"), base_dn=BASE_DN, root_pw=ROOT_PW)
    consumer = MopSlapd(tmp_path_factory.mktemp("consumer"), base_dn=BASE_DN, root_pw=ROOT_PW)
    provider.start()
    consumer.start()
    try:
        provider.load_ldif(replication_ldif("provider"), "config/replication/provider.ldif")
        secure(provider)
        secure(consumer)
        consumer.load_ldif(replication_ldif("consumer", PROVIDER_URL=provider.ldap_uri.rstrip("/"), BASE_DN=BASE_DN,
                                            REPLICATOR_DN=f"cn=admin,{BASE_DN}", REPLICATOR_PASSWORD=ROOT_PW),
                           "config/replication/consumer.ldif")
        yield provider, consumer
    finally:
        consumer.stop()
        provider.stop()


def wait_until(condition, seconds: float = 15, what: str = "replication") -> None:
    """Poll `condition` (replication has no event to wait on) until it holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.05)


def as_root(server: MopSlapd) -> Directory:
    """A connection to `server` as its root DN (use it in a with block)."""
    return Directory(LdapConfig(url=server.ldap_uri.rstrip("/"), base_dn=BASE_DN), bind_dn=f"cn=admin,{BASE_DN}",
                     password=ROOT_PW)


def read_on(server: MopSlapd, dn: str, *attrs: str) -> Entry | None:
    """`dn` as `server` holds it, read as its root DN."""
    with as_root(server) as directory:
        return directory.read(dn, attrs or ("*", "+"))


@pytest.fixture
def replicated(replication, tmp_path: Path) -> Env:
    """Partner P001 on the provider (as `partner`), and the consumer in step with it; the config
    lists the consumer in ldap.replicas."""
    provider, consumer = replication
    reset_tree(provider)
    env = make_env(provider, tmp_path)
    env.cli("init")
    with_partner(env)
    wait_until(lambda: read_on(consumer, account_dn("zhangsan"), "uid") is not None)
    env.consumer = consumer
    return env


@pytest.fixture
def multi_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MopSlapd, MopSlapd]]:
    """Two providers replicating each other (config/replication/multi-provider.ldif), new for each test
    (an emptied tree does not replicate cleanly: its suffix entry holds the replication state)."""
    servers = [MopSlapd(tmp_path_factory.mktemp(f"provider{n}"), base_dn=BASE_DN, root_pw=ROOT_PW) for n in (1, 2)]
    for server in servers:
        server.start()
    try:
        for n, (server, other) in enumerate(zip(servers, reversed(servers)), start=1):
            server.load_ldif(replication_ldif("provider"), "config/replication/provider.ldif")
            secure(server)
            server.load_ldif(replication_ldif("multi-provider", SERVER_ID=str(n), RID=f"{n:03d}",
                                              OTHER_URL=other.ldap_uri.rstrip("/"),
                                              BASE_DN=BASE_DN, REPLICATOR_DN=f"cn=admin,{BASE_DN}",
                                              REPLICATOR_PASSWORD=ROOT_PW), "config/replication/multi-provider.ldif")
        yield servers[0], servers[1]
    finally:
        for server in servers:
            if server._proc is not None:
                server.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests need the openssl command (apt-get install openssl)", pytrace=False)
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    key.chmod(0o600)
    return cert, key


class MailInbox:
    """aiosmtpd's handler: every message it accepts, parsed; `refuse` holds addresses it answers
    550 (for good) or 450 (for now, when they start with 'later')."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: set[str] = set()
        self.answers: list[str] = []  # the next DATA answers, e.g. "421 too many mails on one connection"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if address in self.refuse:
            return "450 try again later" if address.startswith("later") else "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        if self.answers:
            return self.answers.pop(0)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp_server():
    """start(**aiosmtpd options, port=None) -> (inbox, port), a real SMTP server on loopback; every
    server started is stopped after the test."""
    from aiosmtpd.controller import Controller

    started = []

    def start(port: int | None = None, **options):
        inbox = MailInbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port(), **options)
        controller.start()
        started.append(controller)
        return inbox, controller.port

    yield start
    for controller in started:
        controller.stop()
