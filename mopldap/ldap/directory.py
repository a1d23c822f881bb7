"""The only module that talks LDAP (through ldap3): connect, search, write.

Every operation is counted in `Directory.stats` (tests and benchmarks assert on the
number of LDAP operations) and logged at debug level as the ldap* command line that
would repeat it.
"""

from __future__ import annotations

import queue
import re
import shlex
import ssl
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

import ldap3
from ldap3.core.exceptions import (LDAPException, LDAPSocketOpenError, LDAPSocketSendError, LDAPStartTLSError,
                                   communication_exception_factory)
from ldap3.core.results import RESULT_CODES
from ldap3.operation.search import search_operation
from ldap3.protocol.rfc4527 import post_read_control, pre_read_control

from ..logs import get_logger
from ..model.change import Modification
from ..model.config import LdapConfig, ReplicaConfig
from ..model.entry import Entry
from ..model.errors import DirectoryError
from . import receiving
from .encoding import add_request
from .values import SEARCH_RESULT_ENTRY, MalformedAnswer, Stream, entry_values, message_header, search_result

log = get_logger(__name__)

SUBTREE = ldap3.SUBTREE
ONELEVEL = ldap3.LEVEL
BASE = ldap3.BASE
_SCOPE_NAMES = {ldap3.SUBTREE: "sub", ldap3.LEVEL: "one", ldap3.BASE: "base"}
_NAMES = re.compile(r"NAME\s+(\([^)]*\)|'[^']*')")
_MOD_CODES = {"replace": ldap3.MODIFY_REPLACE, "add": ldap3.MODIFY_ADD, "delete": ldap3.MODIFY_DELETE}


WORKERS = 4  # connections that write in parallel (see Pipeline)
PATIENCE = 0.002
"""Seconds a modify may take per value it carries, beyond ldap.timeout: the memberof overlay writes
each new member's memberOf before slapd answers (up to 0.5 ms a value at 1,000,000 accounts; a
write of 40,000 values waits up to 90 s with the default timeout)."""
CSN_CONTROLS = [pre_read_control(["entryCSN"]), post_read_control(["entryCSN"])]
NO_SUCH_ATTRIBUTE = 16
CREDENTIAL_CODES = (48, 49, 50)  # inappropriateAuthentication, invalidCredentials, insufficientAccessRights
VALUE_EXISTS = 20
OBJECT_CLASS_VIOLATION = 65


class WriteError(DirectoryError):
    """The server refused one write (the run goes on; the request it belongs to fails)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class BindRefused(DirectoryError):
    """The server refused the bind itself (wrong password, locked account, unknown DN), as opposed
    to not being reachable: the console answers one with "wrong username or password"."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.hex()


def _decode_all(values: list[bytes]) -> list[str]:
    """The values as str (hex where one is not UTF-8): no function call a value in the usual all-UTF-8 case."""
    try:
        return [value.decode("utf-8") for value in values]
    except UnicodeDecodeError:
        return [_decode(value) for value in values]


class Directory:
    """A bound connection to one LDAP server."""

    def __init__(self, config: LdapConfig, url: str | None = None, bind_dn: str | None = None,
                 password: str | None = None, anonymous: bool = False) -> None:
        """A connection to `url` (default: the first of ldap.url's providers that answers) as
        ldap.bind_dn, or as `bind_dn` with `password`, or (`anonymous`) as any client that does not bind."""
        self.config = config
        self._candidates = [url] if url else config.providers
        self.url = self._candidates[0]
        self.anonymous = anonymous
        self.bind_dn = "anonymous" if anonymous else bind_dn or config.bind_dn
        self._password = password
        self.stats: Counter[str] = Counter()
        self._conn: ldap3.Connection | None = None
        self._workers: ThreadPoolExecutor | None = None
        self._idle: queue.SimpleQueue | None = None
        self._opened: list[ldap3.Connection] = []
        self._known: set[str] | None = None

    # -- connection -----------------------------------------------------------

    def alive(self) -> bool:
        """Does this connection still answer (a read of the root DSE)?"""
        try:
            ok = self._conn is not None and self._conn.search("", "(objectClass=*)", search_scope=ldap3.BASE,
                                                              attributes=["1.1"])
        except Exception:  # noqa: BLE001 - any failure means no
            return False
        return bool(ok)

    def connect_first(self, urls: Sequence[str]) -> Directory:
        """Connect to the first of `urls` that answers."""
        self._candidates = list(urls)
        return self.connect()

    def connect(self) -> Directory:
        """Open, secure and bind the connection, to the first provider that answers (a refused bind
        is not tried elsewhere: the credentials are the same). Raise DirectoryError (exit 2) if it fails."""
        failures = []
        for url in self._candidates:
            self.url = url
            try:
                self._conn = self._open(ldap3.SYNC)
                break
            except BindRefused:
                raise
            except DirectoryError as exc:
                failures.append(exc)
                if len(self._candidates) > 1:
                    log.warning("provider_unavailable", url=url, error=exc.message)
        else:
            raise failures[0] if len(failures) == 1 else DirectoryError(
                "no provider answers: " + "; ".join(f.message for f in failures))
        log.debug("ldap_bind", url=self.url, bind_dn=self.bind_dn)
        return self

    def _open(self, strategy: str) -> ldap3.Connection:
        parsed = urlparse(self.url)
        tls = None
        if parsed.scheme == "ldaps" or self.config.start_tls:
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED,
                ca_certs_file=str(self.config.ca_file) if self.config.ca_file else None,
                version=ssl.PROTOCOL_TLS_CLIENT,
            )
        server = ldap3.Server(
            parsed.hostname,
            port=parsed.port,
            use_ssl=parsed.scheme == "ldaps",
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=max(1, int(self.config.timeout)),
        )
        conn = ldap3.Connection(
            server,
            user=None if self.anonymous else self.bind_dn,
            password=None if self.anonymous else
            self._password if self._password is not None else self.config.bind_password(),
            receive_timeout=max(1, int(self.config.timeout)),
            raise_exceptions=False,
            auto_referrals=False,
            check_names=False,
            return_empty_attributes=False,  # receiving.entry_from_message's plain attribute names
            client_strategy=strategy,
        )
        receiving.install(conn)
        try:
            conn.open()
            if self.config.start_tls and parsed.scheme == "ldap":
                if not conn.start_tls():
                    raise DirectoryError(f"{self.url}: StartTLS refused: {conn.result.get('message') or conn.result.get('description')}")
            self.stats["bind"] += 1
            if not conn.bind():
                result = conn.result or {}
                conn.unbind()
                if result.get("result") not in CREDENTIAL_CODES:  # busy, unavailable: try again or elsewhere
                    raise DirectoryError(f"{self.url}: bind as {self.bind_dn} failed ({result.get('description')}"
                                         f"{': ' + result['message'] if result.get('message') else ''})")
                raise BindRefused(
                    f"{self.url}: bind as {self.bind_dn} refused "
                    f"({result.get('description')}{': ' + result['message'] if result.get('message') else ''}): "
                    "check ldap.bind_dn and the bind password", result.get("result"))
        except DirectoryError:
            raise
        except LDAPStartTLSError as exc:
            raise DirectoryError(f"{self.url}: TLS failed: {_tls_reason(exc, parsed.hostname)}") from None
        except LDAPSocketOpenError as exc:
            reason = _tls_reason(exc, parsed.hostname)
            if tls is not None and reason != _plain_reason(exc):
                raise DirectoryError(f"{self.url}: TLS failed: {reason}") from None
            raise DirectoryError(f"cannot reach {self.url}: {reason}; is the server running?") from None
        except LDAPException as exc:
            raise DirectoryError(f"{self.url}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - whatever a hostile or broken server sends
            raise DirectoryError(_not_ldap(self.url, exc)) from None
        return conn

    def pipeline(self) -> Pipeline:
        """Return a Pipeline: writes on WORKERS extra connections (opened once, closed with this one)."""
        return Pipeline(self)

    def _submit(self, what: str, call) -> Future[WriteResult]:
        if self._workers is None:
            self._workers = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="ldap-write")
            self._idle = queue.SimpleQueue()
            for _ in range(WORKERS):
                self._idle.put(None)  # a slot: the connection is opened on first use

        def run() -> WriteResult:
            conn = self._idle.get()
            try:
                if conn is None:
                    conn = self._open(ldap3.SYNC)
                    self._opened.append(conn)
                try:
                    ok = call(conn)
                except LDAPException as exc:
                    raise DirectoryError(f"{self.url}: {what} failed: {exc}") from None
                except Exception as exc:  # noqa: BLE001
                    raise DirectoryError(_not_ldap(self.url, exc)) from None
                result = conn.result or {}
                message = "" if ok else f"{what}: {result.get('description')}" + (
                    f": {result['message']}" if result.get("message") else "")
                return WriteResult(bool(ok), message)
            finally:
                self._idle.put(conn)

        return self._workers.submit(run)

    def close(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(wait=True)
            self._workers = None
        for conn in self._opened:
            try:
                conn.unbind()
            except LDAPException:
                pass
        self._opened = []
        if self._conn is not None:
            try:
                self._conn.unbind()
            except LDAPException:
                pass
            self._conn = None

    def __enter__(self) -> Directory:
        return self.connect() if self._conn is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> ldap3.Connection:
        if self._conn is None:
            raise DirectoryError(f"{self.url}: not connected")
        return self._conn

    def _cli(self, command: str, *args: str) -> str:
        who = [] if self.anonymous else ["-D", shlex.quote(self.bind_dn), "-W"]
        return " ".join([command, "-H", self.url, "-x", *who, *args])

    def _call(self, what: str, func, *args, **kwargs) -> bool:
        """Run one ldap3 call; turn a lost connection into DirectoryError (exit 2)."""
        try:
            return func(*args, **kwargs)
        except LDAPException as exc:
            raise DirectoryError(f"{self.url}: {what} failed: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a malformed answer: ldap3 fails in its decoder
            raise DirectoryError(_not_ldap(self.url, exc)) from None

    # -- reading --------------------------------------------------------------

    def search(
        self,
        base: str,
        filter: str = "(objectClass=*)",
        attrs: Sequence[str] = ("*",),
        scope: int = SUBTREE,
        page_size: int | None = None,
    ) -> Iterator[Entry]:
        """Yield the entries matching `filter`, page by page (RFC 2696); none if base is missing."""
        log.debug(
            "ldap_search",
            cmd=self._cli("ldapsearch", "-E", f"pr={page_size or self.config.page_size}/noprompt", "-b",
                          shlex.quote(base), "-s", _SCOPE_NAMES[scope], shlex.quote(filter), *attrs),
        )
        cookie = None
        while True:
            self.stats["search"] += 1
            ok = self._call(
                f"search under {base}",
                self.conn.search,
                base,
                filter,
                search_scope=scope,
                attributes=list(attrs),
                paged_size=page_size or self.config.page_size,
                paged_cookie=cookie,
            )
            result = self.conn.result
            if not ok and result["result"] == 32:  # noSuchObject: nothing under a missing base
                return
            if not ok and result["result"] != 0:
                raise DirectoryError(f"{self.url}: search under {base} failed: {result['description']} {result.get('message', '')}".strip())
            # taken from the connection, and each answer let go of once decoded: a group of
            # 1,000,000 members is 100 MB of raw values, the str of which are made here
            response, self.conn.response = self.conn.response or [], None
            response.reverse()
            while response:
                item = response.pop()
                if item.get("type") != "searchResEntry":
                    continue
                dn, attrs_out = item["dn"], {name.lower(): _decode_all(values)
                                             for name, values in item["raw_attributes"].items()}
                del item
                self.stats["entries"] += 1
                yield Entry(dn, attrs_out)
            controls = result.get("controls", {})
            cookie = controls.get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
            if not cookie:
                return

    def values(self, dn: str, attr: str) -> Iterator[list[str]]:
        """The values of `dn`'s `attr`, a chunk at a time as they arrive (none if there is no such
        entry): one base search, whose answer is parsed off the socket (ldap/values.py), so that a
        group of a million members is never held whole. Stopped early, it reads the rest of the
        answer, so that the connection can carry on."""
        log.debug("ldap_search", cmd=self._cli("ldapsearch", "-b", shlex.quote(dn), "-s", "base", attr))
        self.stats["search"] += 1
        conn = self.conn
        with conn.connection_lock:
            answer = self._values_answer(conn, dn, attr)
            try:
                for chunk in answer:
                    yield _decode_all(chunk)
            finally:
                for _ in answer:
                    pass

    def _values_answer(self, conn: ldap3.Connection, dn: str, attr: str) -> Iterator[list[bytes]]:
        message_id = None
        try:
            request = search_operation(dn, "(objectClass=*)", BASE, ldap3.DEREF_NEVER, [attr], 0, 0, False,
                                       conn.auto_escape, conn.auto_encode, check_names=False)
            message_id = conn.send("searchRequest", request, None)
            stream = Stream(conn.socket.recv)
            while True:
                answer_id, op, end = message_header(stream)
                if answer_id != message_id:
                    raise MalformedAnswer("the server ended the connection" if answer_id == 0 else
                                          f"an answer to message {answer_id} where {message_id} was asked")
                if op == SEARCH_RESULT_ENTRY:
                    self.stats["entries"] += 1
                    yield from entry_values(stream, end, attr)
                    continue
                code, message = search_result(stream, op, end)
                if code is None:  # a referral or an intermediate answer: no entry
                    continue
                if code not in (0, 32):  # 32, noSuchObject: no entry, no values
                    raise DirectoryError(f"{self.url}: read of {dn} failed: {RESULT_CODES.get(code, code)} {message}".strip())
                return
        except LDAPException as exc:
            _abandon(conn)
            raise DirectoryError(f"{self.url}: read of {dn} failed: {exc}") from None
        except MalformedAnswer as exc:
            _abandon(conn)
            raise DirectoryError(f"{self.url}: the answer to a read of {dn} is not valid LDAP: {exc}") from None
        except OSError as exc:  # the socket: reset, timed out
            _abandon(conn)
            raise DirectoryError(f"{self.url}: read of {dn} failed: {exc}") from None
        finally:
            if conn.strategy._outstanding is not None:  # None once _abandon closed the connection
                conn.strategy._outstanding.pop(message_id, None)

    def any(self, base: str, filter: str) -> bool:
        """True if some entry under `base` matches `filter`: the server stops at the first."""
        log.debug("ldap_search", cmd=self._cli("ldapsearch", "-z", "1", "-b", shlex.quote(base), shlex.quote(filter), "1.1"))
        self.stats["search"] += 1
        self._call(f"search under {base}", self.conn.search, base, filter, search_scope=SUBTREE, attributes=["1.1"],
                   size_limit=1)
        result = self.conn.result
        if result["result"] == 32:  # noSuchObject
            return False
        if result["result"] not in (0, 4):  # 4: sizeLimitExceeded, the one entry asked for came back
            raise DirectoryError(f"{self.url}: search under {base} failed: {result['description']}")
        return any(item.get("type") == "searchResEntry" for item in self.conn.response or [])

    def compare(self, dn: str, attr: str, value: str) -> bool:
        """Whether `dn`'s `attr` holds `value`, by the attribute's matching rule: the server answers,
        nothing is read (a group of a million members stays where it is)."""
        log.debug("ldap_compare", cmd=self._cli("ldapcompare", shlex.quote(dn), shlex.quote(f"{attr}:{value}")))
        self.stats["compare"] += 1
        self._call(f"compare {dn}", self.conn.compare, dn, attr, value)
        result = self.conn.result
        if result.get("result") not in (5, 6):  # compareFalse, compareTrue
            raise WriteError(f"compare {dn}: {result.get('description')}", result.get("result"))
        return result["result"] == 6

    def known_attributes(self) -> set[str]:
        """Return the lowercased names of every attribute type the server's schema defines."""
        if self._known is None:
            self._known = self.schema_names("attributeTypes")
        return self._known

    def schema_names(self, kind: str) -> set[str]:
        """The lowercased names the server's schema defines, of `kind` (attributeTypes, objectClasses)."""
        entry = self.read("cn=Subschema", (kind,))
        names: set[str] = set()
        for definition in entry.get(kind) if entry else []:
            match = _NAMES.search(definition)
            if match:
                names |= {n.lower() for n in re.findall(r"'([^']+)'", match.group(1))}
        return names

    def read_raw(self, dn: str, attrs: Sequence[str] = ("*",)) -> dict[str, list[bytes]] | None:
        """Return the attributes of `dn` as the server sent them (names as stored, values as bytes)."""
        log.debug("ldap_search", cmd=self._cli("ldapsearch", "-b", shlex.quote(dn), "-s", "base", *attrs))
        self.stats["search"] += 1
        ok = self._call(f"read of {dn}", self.conn.search, dn, "(objectClass=*)", search_scope=BASE,
                        attributes=list(attrs))
        for item in self.conn.response or [] if ok else []:
            if item.get("type") == "searchResEntry":
                self.stats["entries"] += 1
                return {name: list(values) for name, values in item["raw_attributes"].items()}
        return None

    def read(self, dn: str, attrs: Sequence[str] = ("*",)) -> Entry | None:
        """Return the entry at `dn`, or None if there is none."""
        for entry in self.search(dn, "(objectClass=*)", attrs, scope=BASE):
            return entry
        return None

    # -- writing --------------------------------------------------------------

    def _check(self, ok: bool, what: str, dn: str) -> None:
        if not ok:
            result = self.conn.result
            message = f": {result['message']}" if result.get("message") else ""
            raise WriteError(f"{what} {dn}: {result['description']}{message}", result.get("result"))

    def add(self, dn: str, attrs: Mapping[str, Sequence[str | bytes]]) -> None:
        log.debug("ldap_add", cmd=self._cli("ldapadd") + f"  # dn: {dn}")
        self.stats["add"] += 1
        self._check(self._call(f"add {dn}", send_add, self.conn, dn, attrs), "add", dn)

    def modify(self, dn: str, mods: Sequence[Modification], read_csn: bool = False) -> tuple[str | None, str | None]:
        """Modify `dn`. With `read_csn`, return its entryCSN before and after (RFC 4527 pre/post-read)."""
        flags = ["-e", "preread=entryCSN", "-e", "postread=entryCSN"] if read_csn else []
        log.debug("ldap_modify", cmd=self._cli("ldapmodify", *flags) + f"  # dn: {dn}: " + ", ".join(
            f"{m.action}: {m.attr} ({len(m.values)})" for m in mods))
        self.stats["modify"] += 1
        controls = CSN_CONTROLS if read_csn else None
        with self._patience(PATIENCE * sum(len(m.values) for m in mods)):
            self._check(self._call(f"modify {dn}", self.conn.modify, dn, _changes(mods), controls), "modify", dn)
        return read_csns(self.conn.result) if read_csn else (None, None)

    @contextmanager
    def _patience(self, extra: float) -> Iterator[None]:
        """Wait `extra` seconds longer than ldap.timeout for the answer to what is sent within."""
        sock = self.conn.socket
        if extra < 1 or sock is None:
            yield
            return
        usual = sock.gettimeout()
        sock.settimeout(usual + extra if usual is not None else None)
        try:
            yield
        finally:
            if self.conn.socket is sock:  # still open: ldap3 drops the socket of a failed receive
                sock.settimeout(usual)

    def delete(self, dn: str) -> None:
        log.debug("ldap_delete", cmd=self._cli("ldapdelete", shlex.quote(dn)))
        self.stats["delete"] += 1
        self._check(self._call(f"delete {dn}", self.conn.delete, dn), "delete", dn)

    def set_password(self, dn: str, password: str) -> None:
        """Set a password with the Password Modify extended operation (RFC 3062); slapd hashes it."""
        log.debug("ldap_passwd", cmd=self._cli("ldappasswd", "-S", shlex.quote(dn)))
        self.stats["extended"] += 1
        ok = self._call(f"password change of {dn}", self.conn.extend.standard.modify_password, dn, None, password)
        self._check(bool(ok), "password change of", dn)

    def change_own_password(self, old: str, new: str) -> None:
        """The bound person changes their own password (RFC 3062 with the old one): the server's
        policy decides (minimum length, quality, history) and clears pwdReset. WriteError says why not."""
        log.debug("ldap_passwd", cmd=self._cli("ldappasswd", "-a", "<old>", "-s", "<new>"))
        self.stats["extended"] += 1
        ok = self._call("password change", self.conn.extend.standard.modify_password, None, old, new)
        self._check(bool(ok), "password change of", self.bind_dn)


def connect_replica(config: LdapConfig, replica: ReplicaConfig) -> Directory:
    """A bound connection to `replica`, with its own credentials if it has them (else ldap.bind_dn's).
    A refused bind is one line naming the replica and the settings to fix (DirectoryError, exit 2)."""
    password = replica.password()
    directory = Directory(config, url=replica.url, bind_dn=replica.bind_dn, password=password)
    try:
        return directory.connect()
    except BindRefused as exc:
        settings = "its bind_dn and bind_password_file" if password is not None else "ldap.bind_dn and its password"
        raise DirectoryError(f"replica {replica.url} refused the bind as {directory.bind_dn} ({exc.code}): "
                             f"check {settings} in ldap.replicas") from None


def send_add(conn: ldap3.Connection, dn: str, attrs: Mapping[str, Sequence[str | bytes]]) -> bool:
    """What ldap3's Connection.add does on a synchronous connection, with the request encoded by
    ldap/encoding.py: send it, wait for the answer (conn.result), True if the entry was added."""
    with conn.connection_lock:
        if not conn.listening:
            raise LDAPSocketOpenError("unable to send message, socket is not open")
        message_id = conn.server.next_message_id()
        conn.request = {"type": "addRequest", "entry": dn, "attributes": attrs, "controls": None}
        conn.strategy._outstanding[message_id] = conn.request
        try:
            conn.socket.sendall(add_request(message_id, dn, attrs))
        except OSError as exc:  # as ldap3 reports a failed send
            conn.last_error = f"socket sending error{exc}"
            raise communication_exception_factory(LDAPSocketSendError, type(exc)(str(exc)))(conn.last_error) from None
        conn.strategy.post_send_single_response(message_id)
        result = conn.result
        return result["type"] == "addResponse" and result["result"] == 0


def _changes(mods: Sequence[Modification]) -> dict[str, list]:
    changes: dict[str, list] = {}
    for mod in mods:
        changes.setdefault(mod.attr, []).append((_MOD_CODES[mod.action], list(mod.values)))
    return changes


def read_csns(result: dict) -> tuple[str | None, str | None]:
    """The entryCSN before and after a write, from its pre-read and post-read response controls."""
    returned = result.get("controls") or {}

    def csn(oid: str) -> str | None:
        values = returned.get(oid, {}).get("value", {}).get("result", {}).get("entryCSN")
        return str(values[0]) if values else None

    return csn("1.3.6.1.1.13.1"), csn("1.3.6.1.1.13.2")


@dataclass
class WriteResult:
    ok: bool
    message: str = ""


class Pipeline:
    """Writes sent without waiting for each answer: a few connections work in parallel, so
    slapd handles one write while this process encodes the next. `drain()` returns every
    result in the order the writes were submitted. Only for writes independent of each other.
    """

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._futures: list[Future[WriteResult]] = []

    def add(self, dn: str, attrs: Mapping[str, Sequence[str | bytes]]) -> None:
        self.directory.stats["add"] += 1
        self._futures.append(self.directory._submit(f"add {dn}", lambda c: send_add(c, dn, attrs)))

    def modify(self, dn: str, mods: Sequence[Modification]) -> None:
        self.directory.stats["modify"] += 1
        changes = _changes(mods)
        self._futures.append(self.directory._submit(f"modify {dn}", lambda c: c.modify(dn, changes)))

    def drain(self) -> list[WriteResult]:
        futures, self._futures = self._futures, []
        return [future.result() for future in futures]


def _abandon(conn: ldap3.Connection) -> None:
    """Close a connection whose answer was left half read: what is left of it must not be taken
    for the answer to the next operation (as ldap3 closes one whose receiving failed)."""
    try:
        conn.strategy.close()
    except Exception:  # noqa: BLE001 - closing what is already broken
        pass


def _not_ldap(url: str, exc: Exception) -> str:
    return (f"{url}: the server's answer is not valid LDAP ({type(exc).__name__}); "
            "check that ldap.url names an LDAP server")


_SAN_NAMES = re.compile(r"\('(?:DNS|IP Address)', '([^']+)'\)")
_COMMON_NAME = re.compile(r"\('commonName', '([^']+)'\)")


def _tls_reason(exc: Exception, host: str | None = None) -> str:
    """What went wrong with TLS, in a few words: a name mismatch says which names the certificate has."""
    text = str(exc)
    if "doesn't match" in text or "mismatch" in text.lower():
        san = text.split("'subjectAltName':", 1)[1] if "'subjectAltName':" in text else ""
        names = _SAN_NAMES.findall(san) or _COMMON_NAME.findall(text.split("'issuer'", 1)[0])
        listed = " or ".join(names) if names else "other names"
        return f"certificate is for {listed}, not {host}: use a name it lists in ldap.url"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "the server's certificate could not be verified (is ldap.ca_file the CA that signed it?)"
    return _plain_reason(exc)


def _plain_reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "refused" in text:
        return "connection refused"
    if "timed out" in text:
        return "connection timed out"
    return text.split(" - ")[-1] if " - " in text else text
