"""The embedded OpenLDAP: Debian's slapd with mopldap's schema and server settings.

Used by `mopldap dev-server` (a persistent folder, default var/slapd/) and by the
test suite (a temporary folder, a free port). Both build cn=config the same way a
customer does: a minimal database config with slapadd, then `schema/*.ldif`
loaded into the running server with `ldapadd -Y EXTERNAL -H ldapi://...`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_plus

import slapd

from ..model.errors import ServerSetupError

INSTALL_HINT = "slapd is not installed: run `sudo apt-get install -y slapd ldap-utils` (Debian/Ubuntu)"
SHIPPED_BASE_DN = "dc=example,dc=com"

# Debian's own initial configuration (/usr/share/slapd/slapd.init.ldif): the
# same schemas, database, indexes and ACLs a customer's fresh `apt-get install
# slapd` has, with the local user of this process (SASL EXTERNAL over ldapi) as
# the config administrator. schema/*.ldif is then loaded on top, over ldapi.
CONFIG_TEMPLATE = r"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: %(pidfile)s
olcLogLevel: none
olcToolThreads: 1
olcTLSCACertificateFile: %(cafile)s
olcTLSCertificateFile: %(servercert)s
olcTLSCertificateKeyFile: %(serverkey)s

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500
olcAccess: {0}to * by dn.exact=%(peercred)s manage by * break
olcAccess: {1}to dn.exact="" by * read
olcAccess: {2}to dn.base="cn=Subschema" by * read

dn: olcDatabase=config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: config
olcAccess: to * by dn.exact=%(peercred)s manage by * break
olcRootDN: cn=admin,cn=config

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://%(schemadir)s/core.ldif

include: file://%(schemadir)s/cosine.ldif

include: file://%(schemadir)s/nis.ldif

include: file://%(schemadir)s/inetorgperson.ldif

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: olcDatabase=mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: mdb
olcDbMaxSize: 4294967296
olcDbCheckpoint: 512 30
olcLastMod: TRUE
olcSuffix: %(suffix)s
olcDbDirectory: %(directory)s
olcRootDN: %(rootdn)s
olcRootPW: %(rootpw)s
olcDbIndex: objectClass eq
olcDbIndex: cn,uid eq
olcDbIndex: uidNumber,gidNumber eq
olcDbIndex: member,memberUid eq
olcAccess: to attrs=userPassword by self write by anonymous auth by * none
olcAccess: to attrs=shadowLastChange by self write by * read
olcAccess: to * by * read
"""


def local_identity() -> str:
    """The DN slapd gives this process's user over ldapi (SASL EXTERNAL): the config administrator
    of the embedded server, and who keeps manage access under the access rules there."""
    return f"gidNumber={os.getgid()}+uidNumber={os.getuid()},cn=peercred,cn=external,cn=auth"


def schema_dir() -> Path:
    """Return the folder holding the shipped `*.ldif` (installed copy, or the source tree's)."""
    here = Path(__file__).resolve().parent.parent  # the mopldap package
    for candidate in (here / "_data" / "schema", here.parent / "schema"):
        if (candidate / "mop.ldif").is_file():
            return candidate
    raise ServerSetupError(f"cannot find mopldap's schema/*.ldif next to {here}")


def schema_files() -> list[Path]:
    """Return `schema/*.ldif` in the order a customer loads them (alphabetical)."""
    return sorted(schema_dir().glob("*.ldif"))


def adapt_ldif(text: str, base_dn: str) -> str:
    """Return shipped LDIF adapted to `base_dn`, as the README's sed line does."""
    return text.replace(SHIPPED_BASE_DN, base_dn)


class MopSlapd(slapd.Slapd):
    """python-slapd's Slapd running mopldap's server configuration.

    Given a folder, build (or reuse, when `persistent`) cn=config and the database
    there, and serve ldap://host:port/ plus an ldapi socket in the folder.
    """

    def __init__(
        self,
        rundir: Path,
        port: int | None = None,
        base_dn: str = SHIPPED_BASE_DN,
        root_pw: str = "",
        persistent: bool = False,
        host: str = "127.0.0.1",
        edit_ldif: Callable[[str, str], str] | None = None,
    ) -> None:
        """`edit_ldif(file name, text)`: for tests that need a server missing one of the pieces."""
        self.edit_ldif = edit_ldif or (lambda name, text: text)
        try:
            super().__init__(
                host=host,
                port=port,
                suffix=base_dn,
                root_cn="admin",
                root_pw=root_pw,
            )
        except ValueError as exc:
            if "not found" in str(exc):
                raise ServerSetupError(INSTALL_HINT) from None
            raise
        self.persistent = persistent
        self.detach = persistent
        self.testrundir = str(rundir)
        self._slapd_conf = str(rundir / "slapd.d")
        self._db_directory = str(rundir / "data")
        self.pidfile = rundir / "slapd.pid"
        self.logfile = rundir / "slapd.log"
        ldapi_path = str(rundir / "ldapi")
        if len(ldapi_path) > 100:
            raise ServerSetupError(f"{rundir}: path too long for an ldapi socket; use a shorter data folder")
        self.ldapi_uri = f"ldapi://{quote_plus(ldapi_path)}"
        self.default_ldap_uri = self.ldapi_uri

    # -- building -------------------------------------------------------------

    @property
    def built(self) -> bool:
        return Path(self._slapd_conf, "cn=config.ldif").is_file()

    def _gen_config(self) -> str:
        hashed = subprocess.run(
            ["slappasswd", "-h", "{SSHA}", "-s", self.root_pw], capture_output=True, text=True, check=True
        ).stdout.strip()
        peercred = local_identity()
        return CONFIG_TEMPLATE % {
            "pidfile": self.pidfile,
            "cafile": self.cafile,
            "servercert": self.servercert,
            "serverkey": self.serverkey,
            "peercred": peercred,
            "schemadir": self.SCHEMADIR,
            "suffix": self.suffix,
            "directory": self._db_directory,
            "rootdn": self.root_dn,
            "rootpw": hashed,
        }

    def _write_config(self) -> None:
        proc = subprocess.run(
            [self.PATH_SLAPADD, "-F", self._slapd_conf, "-n0"], input=self._gen_config(), capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise ServerSetupError(f"slapadd of the initial cn=config failed: {proc.stderr.strip()}")

    def build(self) -> None:
        """Create the folder, cn=config and an empty database, then load schema/*.ldif."""
        rundir = Path(self.testrundir)
        leftovers = [p for p in (Path(self._slapd_conf), Path(self._db_directory)) if p.exists()]
        if leftovers and self.persistent:
            raise ServerSetupError(f"{rundir}: holds a half-built server ({leftovers[0].name}); move the folder away first")
        if rundir.exists() and not self.persistent:
            self._cleanup_rundir()
        rundir.mkdir(parents=True, exist_ok=True)
        os.chmod(rundir, 0o700)
        Path(self._db_directory).mkdir()
        Path(self._slapd_conf).mkdir()
        self._write_config()
        self._test_config()
        self._spawn()
        self.load_ldif_files()

    def load_ldif_files(self) -> None:
        """Load schema/*.ldif into the running server, exactly as the README tells a customer."""
        for path in schema_files():
            text = self.edit_ldif(path.name, adapt_ldif(path.read_text(encoding="utf-8"), self.suffix))
            if text.strip():
                self.load_ldif(text, f"ldapadd -f {path}")

    def load_ldif(self, text: str, what: str) -> None:
        """Load LDIF (entries, or changetype: modify records) as the config administrator:
        `ldapadd -Y EXTERNAL -H ldapi://...`, the way the README has a customer do it."""
        proc = subprocess.run([self.PATH_LDAPADD, "-Q", "-Y", "EXTERNAL", "-H", self.ldapi_uri], input=text,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise ServerSetupError(f"{what} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    # -- running --------------------------------------------------------------

    def _spawn(self) -> None:
        """Start slapd as a child (`-d 0` keeps it in the foreground) and wait until it answers.

        A persistent (dev-server) slapd gets a session of its own so that it outlives
        `mopldap dev-server`; a throwaway one (tests, --foreground) dies with its parent.
        """
        urls = f"{self.ldap_uri} {self.ldapi_uri}"
        log = open(self.logfile, "ab")
        self._proc = subprocess.Popen(
            [self.PATH_SLAPD, "-F", self._slapd_conf, "-h", urls, "-d", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=self.detach,
            preexec_fn=None if self.detach else _die_with_parent,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                tail = self.logfile.read_text(errors="replace").strip().splitlines()[-3:]
                raise ServerSetupError(f"slapd exited at start: {' / '.join(tail) or 'see ' + str(self.logfile)}")
            try:
                self.ldapwhoami()
                return
            except RuntimeError:
                time.sleep(0.1)
        raise ServerSetupError(f"slapd did not answer on {self.ldap_uri} within 15 s; see {self.logfile}")

    def start(self) -> None:
        """Start the server, building its folder first unless it is persistent and built."""
        if self._proc is not None:
            return
        if not (self.persistent and self.built):
            self.build()
        else:
            self._spawn()

    def stop(self) -> None:
        """Stop slapd and wait for it; remove the folder unless persistent."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if not self.persistent:
            self._cleanup_rundir()


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to send SIGTERM when the parent dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
