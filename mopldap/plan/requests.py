"""Pure planning of one provisioning request: authorize, validate against the directory, plan changes.

The request's operations are simulated in order on the accounts they touch; the
whole request is rejected if any operation is invalid. The changes are then the
difference between each touched account's state before and after the request,
with group memberships batched (one modify per group for the whole request).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ..model.change import Change, Modification
from ..model.layout import Layout
from ..model.passwords import policy_problem
from ..model.requests import HQ_OPERATIONS, ParsedRequest
from ..model.rolemap import RoleMap, grantable_role_problems, user_type_problem
from ..model.schema import ACTIVE, DISABLED
from ..model.schema import profile as account_profile
from ..model.times import format_time, parse_time
from .accounts import (
    AccountState,
    account_modifications,
    creation_changes,
    entitled_systems,
    password_changes,
    membership_delta,
)
from .membership import membership_changes

SUSPENDED = "suspended"


@dataclass(frozen=True)
class PartnerState:
    code: str
    dn: str
    exists: bool = True
    name: str | None = None
    status: str | None = ACTIVE


@dataclass
class DirectoryView:
    """What the directory holds of the accounts and partner a request names."""

    accounts: dict[str, AccountState]
    partners: dict[str, PartnerState]
    partner_accounts: dict[str, list[AccountState]] = field(default_factory=dict)
    min_password_length: int = 8
    leftovers: dict[str, list[str]] = field(default_factory=dict)
    """Groups still naming the DN of a username that has no entry (normalized DN -> group DNs):
    what a deleted account left behind. A new account of that name must not inherit it."""


@dataclass(frozen=True)
class FirstRun:
    """What an interrupted run had planned for a request (its journal), for the run resuming it."""

    run_id: str
    written_after: dt.datetime
    """Its writes came after this moment (wall clock): a password changed since was set by it."""
    statuses: dict[int, tuple[str, str]]  # operation index -> (status, message) as it planned them
    clock_skew: dt.timedelta = dt.timedelta(0)
    """How far the servers' clocks may be from this host's: a password counts as set by that run
    only if changed clearly after it started (when unsure, it is set again: the same password)."""

    def planned(self, index: int) -> bool:
        return self.statuses.get(index, ("", ""))[0] == "applied"


@dataclass
class OpResult:
    index: int
    op: str
    target: str
    status: str = "unchanged"  # applied | unchanged | rejected | failed
    message: str = ""


@dataclass
class RequestPlan:
    request: ParsedRequest
    problems: list[str] = field(default_factory=list)
    results: list[OpResult] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    touched: dict[int, set[str]] = field(default_factory=dict)
    resumed_from: str | None = None  # the interrupted run whose plan this one finishes

    @property
    def rejected(self) -> bool:
        return bool(self.problems)


@dataclass
class _Password:
    value: str
    generated: bool


class _Planner:
    def __init__(self, request: ParsedRequest, view: DirectoryView, rolemap: RoleMap, layout: Layout,
                 now: dt.datetime, scheme: str, resume: bool, generate: Callable[[], str],
                 first_run: FirstRun | None = None, reuse: Mapping[str, str] | None = None,
                 gate: bool = True, secrets_note: str | None = None) -> None:
        self.request = request
        # where the operations' messages say a generated password went
        self.secrets_note = secrets_note or f"generated password in {request.request_id}.secret"
        self.gate = gate
        self.view = view
        self.rolemap = rolemap
        self.layout = layout
        self.now = now
        self.scheme = scheme
        self.resume = resume
        self.generate = generate
        self.first_run = first_run
        self.reuse = reuse or {}  # passwords generated for this request before (its .secret file)
        self.first_deleted = {op.username for i, op in enumerate(request.operations)
                              if op.op == "delete_user" and first_run is not None and first_run.planned(i)}
        self.plan = RequestPlan(request, resumed_from=first_run.run_id if first_run else None)
        self.states: dict[str, AccountState] = {}
        self.original: dict[str, AccountState] = {}
        self.passwords: dict[str, _Password] = {}
        self.deleted_by: dict[str, int] = {}
        self.role_ops: dict[str, int] = {}  # username -> last op that set its roles or user type
        self.last_op: dict[str, str] = {}  # username -> name of the last operation that touched it
        code = request.partner
        self.partner = view.partners.get(code) or PartnerState(code, layout.partner(code), exists=False)
        self.original_partner = self.partner
        self.is_hq = False

    # -- helpers ----------------------------------------------------------------

    def problem(self, index: int | None, message: str, field_name: str | None = None) -> None:
        if index is None:
            self.plan.problems.append(message)
            return
        op = self.request.operations[index].op
        where = f"operations[{index}] ({op})" + (f": {field_name}" if field_name else "")
        self.plan.problems.append(f"{where}: {message}")

    def _password(self, username: str, given) -> _Password:
        """The given password, or a generated one (the one generated before, when resuming)."""
        if given is not None:
            return _Password(given.get_secret_value(), generated=False)
        return _Password(self.reuse.get(username) or self.generate(), generated=True)

    def done_before(self, index: int, what: str | None = None) -> None:
        """Operation `index` was carried out by the interrupted run: report it as applied by it."""
        assert self.first_run is not None
        message = what or self.first_run.statuses.get(index, ("", ""))[1]
        self._result(index, self.plan.results[index].target, "applied",
                     f"done by the interrupted run {self.first_run.run_id}: {message}")

    def account(self, index: int, username: str) -> AccountState | None:
        """Return the current state of an existing account of this request's partner, or report why not."""
        if username in self.deleted_by:
            self.problem(index, f"'{username}' is deleted by operations[{self.deleted_by[username]}]", "username")
            return None
        state = self.states.get(username) or self.view.accounts.get(username)
        if (state is None or not state.exists) and username in self.first_deleted:
            self.done_before(index)  # the interrupted run deleted it: this operation's effect went with it
            return None
        if state is None or not state.exists:
            self.problem(index, f"no account '{username}' in partner {self.request.partner}", "username")
            return None
        if state.where != "partner" or state.partner != self.request.partner:
            self.problem(index, f"'{username}' is not an account of partner {self.request.partner}", "username")
            return None
        self.original.setdefault(username, state)
        return state

    def check_roles(self, index: int, roles: list[str], field_name: str = "roles") -> bool:
        problems = grantable_role_problems(roles, self.rolemap)
        for where, message in problems:
            self.problem(index, message, field_name + where.removeprefix("roles"))
        return not problems

    def check_user_type(self, index: int, user_type: str, field_name: str = "user_type") -> bool:
        why = user_type_problem(user_type, self.rolemap)
        if why:
            self.problem(index, why, field_name)
        return why is None

    def check_password(self, index: int, password: str, field_name: str) -> bool:
        why = policy_problem(password, self.view.min_password_length)
        if why:
            self.problem(index, f"the password {why}", field_name)
            return False
        return True

    def check_not_self(self, index: int, username: str, what: str) -> bool:
        if username == self.request.requested_by:
            self.problem(index, f"you cannot {what} your own account; ask HQ or another administrator", "username")
            return False
        return True

    def set_state(self, index: int, state: AccountState, status: str, message: str) -> None:
        self.states[state.username] = state
        self.last_op[state.username] = self.request.operations[index].op
        self.plan.touched.setdefault(index, set()).add(state.dn)
        self._result(index, state.username, status, message)

    def _result(self, index: int, target: str, status: str, message: str) -> None:
        result = self.plan.results[index]
        result.target, result.status, result.message = target, status, message

    # -- authorization ------------------------------------------------------------

    def authorize(self) -> bool:
        request = self.request
        requester = self.view.accounts.get(request.requested_by)
        if requester is None or not requester.exists:
            self.problem(None, f"requested_by: no account '{request.requested_by}' in the directory")
            return False
        if not requester.enabled:
            self.problem(None, f"requested_by: '{request.requested_by}' is disabled and may not file requests")
            return False
        hq_roles = self.rolemap.hq_roles
        partner_admin_roles = self.rolemap.admin_roles - hq_roles
        self.is_hq = requester.where == "hq" and bool(requester.roles & hq_roles)
        is_admin = (requester.where == "partner" and requester.partner == request.partner
                    and bool(requester.roles & partner_admin_roles))
        if not (self.is_hq or is_admin):
            self.problem(None, f"requested_by: '{request.requested_by}' may not act on partner {request.partner}: "
                               f"the requester must hold {', '.join(sorted(partner_admin_roles))} in {request.partner} "
                               f"or {', '.join(sorted(hq_roles))}")
            return False
        for index, op in enumerate(request.operations):
            if op.op in HQ_OPERATIONS and not self.is_hq:
                self.problem(index, f"only HQ ({', '.join(sorted(hq_roles))}) may {op.op.replace('_', ' ')}")
        return not self.plan.problems

    def check_partner(self, index: int, op_name: str) -> bool:
        if op_name == "create_partner":
            return True
        if not self.partner.exists:
            self.problem(index, f"no partner {self.request.partner} ({self.partner.dn})")
            return False
        if self.partner.status == SUSPENDED and not self.is_hq:
            self.problem(index, f"partner {self.request.partner} is suspended; only HQ may act on it")
            return False
        if self.partner.status == SUSPENDED and op_name in ("create_user", "enable_user"):
            self.problem(index, f"partner {self.request.partner} is suspended: resume it first")
            return False
        return True

    # -- operations ---------------------------------------------------------------

    def run(self) -> RequestPlan:
        ops = self.request.operations
        self.plan.results = [OpResult(i, op.op, getattr(op, "username", self.request.partner)) for i, op in enumerate(ops)]
        if not self.authorize():
            return self._reject()
        for index, op in enumerate(ops):
            if self.check_partner(index, op.op):
                getattr(self, "op_" + op.op)(index, op)
        self.check_role_types()
        if self.plan.problems:
            return self._reject()
        self.build_changes()
        if self.first_run is not None:
            self._say_what_the_first_run_did()
        return self.plan

    def _say_what_the_first_run_did(self) -> None:
        assert self.first_run is not None
        for result in self.plan.results:
            if not self.first_run.planned(result.index) or result.message.startswith("done by the interrupted"):
                continue
            if result.status == "unchanged":
                self.done_before(result.index)
            elif result.status == "applied":
                result.message += f" (finished after run {self.first_run.run_id} was interrupted)"

    def _reject(self) -> RequestPlan:
        for result in self.plan.results:
            result.status = "rejected"
            prefix = f"operations[{result.index}] "
            mine = [p.split(": ", 1)[1] if ": " in p else p for p in self.plan.problems if p.startswith(prefix)]
            result.message = "; ".join(mine) if mine else "not applied: the request was rejected"
        self.plan.changes = []
        self.plan.secrets = {}
        return self.plan

    def _new_account(self, index: int, username: str, name: str, title, email, mobile, user_type: str,
                     roles: list[str], password, field_prefix: str = "") -> None:
        ok = self.check_user_type(index, user_type, field_prefix + "user_type")
        ok &= self.check_roles(index, roles, field_prefix + "roles")
        if username in self.deleted_by:
            self.problem(index, f"'{username}' is deleted by operations[{self.deleted_by[username]}]", "username")
            return
        profile = account_profile(name, title, email, mobile)
        existing = self.states.get(username) or self.view.accounts.get(username)
        if existing is not None and existing.exists:
            same_place = existing.where == "partner" and existing.partner == self.request.partner
            same_values = existing.profile_map == profile and existing.user_type == user_type
            # created by the interrupted run: its values may already be those later operations set
            planned_before = same_place and self.first_run is not None and self.first_run.planned(index)
            if planned_before or (same_place and same_values and (existing.roles == set(roles) or self.resume)):
                self.original.setdefault(username, existing)
                if ok:
                    state = replace(existing, roles=frozenset(roles))
                    if planned_before and existing.password_changed is None:  # added, its password not yet set
                        self.passwords[username] = self._password(username, password)
                    status = "unchanged" if state == existing and username not in self.passwords else "applied"
                    self.set_state(index, state, status, "exists with the same values (password not changed)"
                                   if status == "unchanged" else "finished: roles " + ", ".join(sorted(roles)))
                return
            if same_place:
                differing = [k for k in sorted(set(profile) | set(existing.profile_map))
                             if profile.get(k, ()) != existing.profile_map.get(k, ())]
                if existing.user_type != user_type:
                    differing.append("mopUserType")
                if existing.roles != set(roles):
                    differing.append("roles")
                self.problem(index, f"'{username}' already exists in {self.request.partner} with other values "
                                    f"({', '.join(differing)}): use update_user or set_roles", field_prefix + "username")
            else:
                self.problem(index, f"username '{username}' is already taken (usernames are unique in the directory)",
                             field_prefix + "username")
            return
        if password is not None:
            ok &= self.check_password(index, password.get_secret_value(), field_prefix + "initial_password")
        if not ok:
            return
        dn = self.layout.account(username, self.request.partner)
        self.original[username] = AccountState(dn, username, self.request.partner, "partner", exists=False, roles=frozenset(),
                                               systems=frozenset(), enabled=False, status=None)
        state = AccountState(dn, username, self.request.partner, "partner", profile=tuple(sorted(profile.items())),
                             user_type=user_type, status=ACTIVE, enabled_at=format_time(self.now),
                             roles=frozenset(roles), password_reset=True)
        self.passwords[username] = self._password(username, password)
        self.role_ops[username] = index
        systems = ", ".join(sorted(self.rolemap.granted_systems(roles))) or "(none)"
        if self.gate:
            systems += " once the person has set their own password"
        message = f"created {dn}; roles: {', '.join(sorted(roles))}; systems: {systems}"
        if password is None:
            message += f"; {self.secrets_note}"
        self.set_state(index, state, "applied", message)

    def op_create_user(self, index: int, op) -> None:
        self._new_account(index, op.username, op.name, op.title, op.email, op.mobile, op.user_type, op.roles,
                          op.initial_password)

    def op_update_user(self, index: int, op) -> None:
        state = self.account(index, op.username)
        given = op.model_fields_set - {"op", "username"}
        if not given:
            self.problem(index, "give at least one of name, title, email, mobile, user_type")
        if "name" in given and op.name is None:
            self.problem(index, "name cannot be removed", "name")
        if "user_type" in given:
            if op.user_type is None or not self.check_user_type(index, op.user_type):
                if op.user_type is None:
                    self.problem(index, "user_type cannot be removed", "user_type")
                return
        if state is None:
            return
        values = {}
        if "name" in given and op.name:
            values |= {"cn": (op.name,), "sn": (op.name,), "displayName": (op.name,)}
        for key, attr in (("title", "title"), ("email", "mail"), ("mobile", "mobile")):
            if key in given:
                value = getattr(op, key)
                values[attr] = (value,) if value else ()
        new = state.with_profile(**values)
        if "user_type" in given:
            new = replace(new, user_type=op.user_type)
            self.role_ops[op.username] = index
        changed = [a for a in values if state.profile_map.get(a, ()) != values[a]]
        if new.user_type != state.user_type:
            changed.append("user_type")
        self.set_state(index, new, "applied" if new != state else "unchanged",
                       "updated " + ", ".join(changed) if new != state else "already up to date")

    def _roles(self, index: int, op, compute: Callable[[frozenset[str], set[str]], frozenset[str]]) -> None:
        ok = self.check_roles(index, op.roles)
        state = self.account(index, op.username)
        if state is None or not ok:
            return
        roles = compute(state.roles, set(op.roles))
        partner_admin = self.rolemap.admin_roles - self.rolemap.hq_roles
        if op.username == self.request.requested_by and (state.roles & partner_admin) - roles:
            self.problem(index, "you cannot take your own administrator role; ask HQ or another administrator", "roles")
            return
        lost = sorted(state.roles & self.rolemap.hq_roles - roles)
        if lost:
            self.problem(index, f"'{op.username}' holds HQ role {', '.join(lost)}: only a directory administrator may change it")
            return
        self.role_ops[op.username] = index
        new = replace(state, roles=roles)
        message = (f"roles: {', '.join(sorted(state.roles)) or '(none)'} → {', '.join(sorted(roles)) or '(none)'}"
                   if new != state else "roles already as requested")
        if new != state and not roles:
            message += " (the account now has no role)"
        self.set_state(index, new, "applied" if new != state else "unchanged", message)

    def op_set_roles(self, index: int, op) -> None:
        self._roles(index, op, lambda held, given: frozenset(given) | (held & self.rolemap.hq_roles))

    def op_add_roles(self, index: int, op) -> None:
        self._roles(index, op, lambda held, given: held | given)

    def op_remove_roles(self, index: int, op) -> None:
        self._roles(index, op, lambda held, given: held - given)

    def op_disable_user(self, index: int, op) -> None:
        state = self.account(index, op.username)
        if state is None or not self.check_not_self(index, op.username, "disable"):
            return
        new = state.disabled(op.reason, self.now)
        self.set_state(index, new, "applied" if new != state else "unchanged",
                       f"disabled ({op.reason}); role memberships kept" if new != state else "already disabled")

    def op_enable_user(self, index: int, op) -> None:
        state = self.account(index, op.username)
        if state is None:
            return
        new = state.enabled_now(self.now)
        self.set_state(index, new, "applied" if new != state else "unchanged",
                       "enabled; the idle clock restarts now" if new != state else "already enabled")

    def op_reset_password(self, index: int, op) -> None:
        state = self.account(index, op.username)
        if op.new_password is not None and not self.check_password(index, op.new_password.get_secret_value(),
                                                                   "new_password"):
            return
        if state is None:
            return
        if (self.first_run is not None and self.first_run.planned(index) and state.password_changed is not None
                and (changed := parse_time(state.password_changed)) is not None
                and changed >= self.first_run.written_after + self.first_run.clock_skew):
            if state.status == DISABLED and state.enabled:  # it died between the password and the relock
                self.set_state(index, replace(state, enabled=False), "applied", "")
            self.done_before(index)  # not reset again: its password is the one reported then
            return
        self.passwords[op.username] = self._password(op.username, op.new_password)
        message = "password reset; it must be changed at next login"
        if self.gate:
            message += " (no system until then)"
        if op.new_password is None:
            message += f"; {self.secrets_note}"
        self.set_state(index, replace(state, password_reset=True), "applied", message)

    def op_delete_user(self, index: int, op) -> None:
        state = self.account(index, op.username)
        if state is None or not self.check_not_self(index, op.username, "delete"):
            return
        if state.has_children:
            self.problem(index, f"{state.dn} has entries below it: a directory administrator must remove them "
                                "first", "username")
            return
        self.deleted_by[op.username] = index
        self.passwords.pop(op.username, None)
        self.set_state(index, replace(state, exists=False), "applied",
                       f"deleted {state.dn} (archived first with its role memberships)")

    def op_create_partner(self, index: int, op) -> None:
        admin_roles = sorted(self.rolemap.admin_roles - self.rolemap.hq_roles)
        if not admin_roles:
            self.problem(index, "the role map has no partner administrator role (admin: true)")
            return
        existed = self.partner.exists
        if existed and self.partner.name != op.name:
            self.problem(index, f"partner {self.partner.code} already exists as '{self.partner.name}' ({self.partner.dn})",
                         "name")
            return
        self.partner = PartnerState(self.partner.code, self.partner.dn, exists=True, name=op.name,
                                    status=self.partner.status if existed else ACTIVE)
        self.plan.touched.setdefault(index, set()).add(self.partner.dn)
        self._new_account(index, op.admin.username, op.admin.name, op.admin.title, op.admin.email, op.admin.mobile,
                          op.admin.user_type, admin_roles, op.admin.initial_password, "admin.")
        result = self.plan.results[index]
        if not existed:
            self._result(index, self.partner.code, "applied", f"created partner {self.partner.code} ({op.name}); "
                                                              + result.message)
        else:
            self._result(index, self.partner.code, result.status, f"partner {self.partner.code} exists; " + result.message)

    def _partner_status(self, index: int, status: str, update: Callable[[AccountState], AccountState]) -> None:
        if not self.partner.exists:
            return
        changed = 0
        self.plan.touched.setdefault(index, set()).add(self.partner.dn)
        members = {a.username: a for a in self.view.partner_accounts.get(self.partner.code, [])}
        members |= {u: a for u, a in self.states.items() if a.where == "partner" and a.partner == self.partner.code}
        for username, account in sorted(members.items()):
            current = self.states.get(username, account)
            if not current.exists:
                continue
            self.original.setdefault(username, account)
            new = update(current)
            if new != current:
                changed += 1
                self.states[username] = new
                self.last_op[username] = self.request.operations[index].op
                self.plan.touched[index].add(new.dn)
        was = self.partner.status
        self.partner = replace(self.partner, status=status)
        verb = "suspended" if status == SUSPENDED else "resumed"
        touched = changed or was != status
        self._result(index, self.partner.code, "applied" if touched else "unchanged",
                     f"partner {verb}; {changed} account(s) {'disabled' if status == SUSPENDED else 'enabled'}"
                     if touched else f"partner already {verb}")

    def op_suspend_partner(self, index: int, op) -> None:
        self._partner_status(index, SUSPENDED,
                             lambda a: a.disabled("partner-suspended", self.now) if a.enabled else a)

    def op_resume_partner(self, index: int, op) -> None:
        self._partner_status(index, ACTIVE,
                             lambda a: a.enabled_now(self.now) if not a.enabled and a.reason == "partner-suspended" else a)

    def check_role_types(self) -> None:
        for username, index in self.role_ops.items():
            state = self.states.get(username)
            if state is None or not state.exists or state.user_type is None:
                continue
            allowed = self.rolemap.roles_allowed_for(state.user_type)
            for role in sorted(state.roles - allowed - self.rolemap.hq_roles):
                if role in self.rolemap.roles:
                    self.problem(index, f"role '{role}' is not allowed for user type '{state.user_type}' of '{username}' "
                                        f"(allowed: {', '.join(sorted(allowed)) or 'none'})", "roles")

    # -- changes ------------------------------------------------------------------

    def build_changes(self) -> None:
        rid = self.request.request_id
        ctx = dict(request_id=rid, requester=self.request.requested_by)
        partner_changes, adds, modifies, passwords, deletes = [], [], [], [], []
        additions: dict[str, list[str]] = defaultdict(list)
        removals: dict[str, list[str]] = defaultdict(list)
        before_p, after_p = self.original_partner, self.partner
        if not before_p.exists and after_p.exists:
            attrs = {"objectClass": ("top", "organizationalUnit", "mopPartner"), "ou": (after_p.code,),
                     "mopPartnerName": (after_p.name or after_p.code,), "mopPartnerStatus": (ACTIVE,)}
            partner_changes.append(Change("add", after_p.dn, tuple(Modification(k, "replace", v) for k, v in attrs.items()),
                                          operation="create_partner", **ctx))
        elif before_p.exists and before_p.status != after_p.status:
            partner_changes.append(Change("modify", after_p.dn, (Modification("mopPartnerStatus", "replace", (after_p.status,)),),
                                          old={"mopPartnerStatus": (before_p.status,) if before_p.status else ()},
                                          operation="suspend_partner" if after_p.status == SUSPENDED else "resume_partner",
                                          **ctx))
        for username, after in self.states.items():
            before = self.original[username]
            context = dict(operation=self.last_op.get(username), **ctx)
            password = self.passwords.get(username) if after.exists else None
            if password and not before.exists:
                new, *after_add = creation_changes(after, password.value, self.scheme, **context)
                adds.append(new)
                passwords += after_add
            elif before.exists and not after.exists:
                deletes.append(Change("delete", after.dn, reason="archived first", archive=True,
                                      **dict(context, operation="delete_user")))
            elif after.exists:
                mods, old = account_modifications(before, after)
                if password:
                    extra, after_modify = password_changes(after, password.value, self.scheme, **context)
                    mods += extra
                    passwords += after_modify
                if mods:
                    modifies.append(Change("modify", after.dn, tuple(mods), old, **context))
            if password and password.generated:
                self.plan.secrets[username] = password.value
            add_roles, del_roles, add_sys, del_sys = membership_delta(
                before, after, entitled_systems(after, self.rolemap, self.gate))
            for role in add_roles:
                additions[self.layout.role(role)].append(after.dn)
            for role in del_roles:
                removals[self.layout.role(role)].append(before.dn)
            for system in add_sys:
                additions[self.layout.system(system)].append(after.dn)
            for system in del_sys:
                removals[self.layout.system(system)].append(before.dn)
        for dn, groups in self.view.leftovers.items():  # usernames without an entry: created, or deleted before
            for group in groups:
                removals[group].append(dn)  # delete, then add (if granted): memberOf is written afresh
        groups = membership_changes(additions, removals, request_id=rid, requester=self.request.requested_by,
                                    operation="memberships")
        self.plan.changes = partner_changes + adds + modifies + passwords + groups + deletes


def plan_request(
    request: ParsedRequest,
    view: DirectoryView,
    rolemap: RoleMap,
    layout: Layout,
    now: dt.datetime,
    scheme: str,
    generate: Callable[[], str],
    resume: bool = False,
    first_run: FirstRun | None = None,
    reuse: Mapping[str, str] | None = None,
    gate: bool = True,
    secrets_note: str | None = None,
) -> RequestPlan:
    """Given a valid-shaped request and the directory's view of it, return its plan.

    `resume`: the request was interrupted in an earlier run; a create_user whose
    account exists with the same values is finished (its roles set) instead of
    being a duplicate. `first_run`: that run's journal: what it had planned counts as
    done by it (a delete it made is not a rejection; a password it reset is not reset
    again), and the results say so. `reuse`: passwords generated for the request before.
    `secrets_note`: where the results say generated passwords went (default: the .secret file).
    """
    return _Planner(request, view, rolemap, layout, now, scheme, resume or first_run is not None, generate,
                    first_run, reuse, gate, secrets_note).run()


def failed_ops(plan: RequestPlan, unapplied: list[Change]) -> set[int]:
    """Return the operations that have a change among `unapplied` (the failed one and those after it)."""
    dns = set()
    for change in unapplied:
        dns.add(change.dn.lower())
        for mod in change.mods:
            if mod.attr == "member":
                dns |= {str(v).lower() for v in mod.values}
    return {index for index, touched in plan.touched.items() if {d.lower() for d in touched} & dns}

