"""`mopldap dev-server [start|stop|status]`: the embedded slapd, kept in dev_server.data_dir."""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path
from urllib.parse import urlparse

from ..files.atomic import write_secret
from ..ldap.directory import Directory
from ..ldap.slapd import MopSlapd, local_identity
from ..logs import get_logger
from ..model.change import Modification
from ..model.config import Config, is_loopback
from ..model.errors import ConfigError, MopldapError, ServerSetupError
from ..model.layout import Layout, normalize_dn
from ..model.passwords import hash_password
from ..model.rolemap import load_rolemap
from ..plan.init import base_entry
from .acl import rules_ldif

log = get_logger(__name__)


def read_pid(pidfile: Path) -> int | None:
    """Return the pid of a running slapd from its pid file, or None."""
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def gone_within(pid: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for process `pid` to end; True if it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.1)
    return False


def stop_pid(pid: int, timeout: float = 30) -> None:
    """Send SIGTERM to `pid` and wait until it is gone."""
    os.kill(pid, signal.SIGTERM)
    if not gone_within(pid, timeout):
        raise ServerSetupError(f"slapd (pid {pid}) did not stop within {timeout:.0f} s")


def port_of(url: str) -> int:
    parsed = urlparse(url)
    return parsed.port or (636 if parsed.scheme == "ldaps" else 389)


def new_password() -> str:
    return secrets.token_urlsafe(18)


def secure(server: MopSlapd, config: Config, root_dn: str, service_dn: str, password_file: Path) -> None:
    """Set a new server up as the README has a customer do: the base entry, ou=services and
    mopldap's own account (as the root DN), then the access rules of `mopldap acl` (over ldapi, the
    local user of this process keeping manage access). The password file is written last: its
    presence says this is done."""
    layout = Layout(config.ldap.base_dn)
    password = new_password()
    try:
        root = Directory(config.ldap, bind_dn=root_dn, password=server.root_pw).connect()
        try:
            for dn, attrs in ((layout.base_dn, base_entry(layout.base_dn)),
                              (layout.services, {"objectClass": ("top", "organizationalUnit"), "ou": ("services",)}),
                              (service_dn, {"objectClass": ("applicationProcess", "simpleSecurityObject"),
                                            "cn": ("mopldap",), "userPassword": (hash_password(password, "{SSHA512}"),)})):
                if root.read(dn, ("1.1",)) is None:
                    root.add(dn, attrs)
                elif dn == service_dn:  # its password file was lost: a new password
                    root.modify(dn, [Modification("userPassword", "replace", attrs["userPassword"])])
        finally:
            root.close()
        ldif = rules_ldif(config, load_rolemap(config.paths.role_map), local_admin=local_identity())
    except MopldapError as exc:
        raise ServerSetupError(f"dev-server: setting up mopldap's account: {exc}") from None
    server.load_ldif(ldif, "dev-server: loading the access rules")
    write_secret(password_file, password)


def run_dev_server(config: Config, action: str, foreground: bool) -> int:
    """`mopldap dev-server [start|stop|status] [--foreground]`."""
    data_dir = config.dev_server.data_dir
    url = config.ldap.providers[0]
    parsed = urlparse(url)
    if parsed.scheme != "ldap" or not is_loopback(parsed.hostname):
        raise ConfigError(f"dev-server: ldap.url {url} must be ldap:// on a loopback address, e.g. ldap://127.0.0.1:3890")
    pidfile = data_dir / "slapd.pid"
    pid = read_pid(pidfile)
    if action == "status":
        print(f"dev-server: running (pid {pid}) on {url}, data in {data_dir}" if pid else
              f"dev-server: not running (data in {data_dir})")
        return 0 if pid else 3  # as `systemctl status`
    if action == "stop":
        if pid is None:
            print("dev-server: not running")
            return 0
        stop_pid(pid)
        print(f"dev-server: stopped (pid {pid})")
        return 0
    if pid is not None:
        print(f"dev-server: already running (pid {pid}) on {url}")
        return 0
    password_file = data_dir / "admin.password"
    server = MopSlapd(data_dir, port=port_of(url), base_dn=config.ldap.base_dn, persistent=True,
                      host=parsed.hostname or "127.0.0.1")
    if server.built:
        try:
            server.root_pw = password_file.read_text().strip()
        except OSError:
            raise ServerSetupError(f"{password_file}: missing; remove {data_dir} to rebuild the server") from None
    else:
        server.root_pw = new_password()
        data_dir.mkdir(parents=True, exist_ok=True)
        write_secret(password_file, server.root_pw)  # no newline: `ldapsearch -y` reads it whole
    root_dn = f"cn=admin,{config.ldap.base_dn}"
    service_dn = Layout(config.ldap.base_dn).service_account
    if normalize_dn(config.ldap.bind_dn) not in (normalize_dn(root_dn), normalize_dn(service_dn)):
        log.warning("dev_server_bind_dn", configured=config.ldap.bind_dn, server_root_dn=root_dn,
                    service_account=service_dn)
    server.detach = not foreground
    stop = {"now": False}
    if foreground:
        def _stop(signum: int, frame: object) -> None:
            stop["now"] = True

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _stop)
    try:
        server.start()
    except BaseException:
        server.stop()  # never leave a half-started slapd behind
        raise
    service_file = data_dir / "mopldap.password"
    if not service_file.exists():
        try:
            secure(server, config, root_dn, service_dn, service_file)
        except BaseException:
            if not foreground:
                server.stop()
            raise
    print(f"dev-server: slapd (pid {server._proc.pid}) serving {url} ({config.ldap.base_dn})")
    print(f"dev-server: root DN {root_dn}, password in {password_file} ({server.root_pw})")
    print(f"dev-server: mopldap's own account {service_dn}, password in {service_file}, under the access "
          "rules of `mopldap acl`")
    config_arg = "" if config.source == Path("config/mopldap.yaml") else f" --config {config.source}"
    print(f"dev-server: config and data in {data_dir}; stop it with `mopldap dev-server stop{config_arg}`")
    if not foreground:
        server._proc = None  # leave it running after we exit
        return 0
    print("dev-server: running in the foreground; Ctrl-C stops it", flush=True)
    while not stop["now"] and server._proc is not None and server._proc.poll() is None:
        time.sleep(0.2)
    server.stop()
    print("dev-server: stopped")
    return 0
