"""Roles: the permission table, separation of duties, and docs/roles.md kept in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.access import SCOPES, AccessError, Permission, Role, allowed, parse_role, permissions
from mamori.access.roles import (
    DESCRIPTIONS,
    ROLE_DESCRIPTIONS,
    ROLES,
    SCOPE_PERMISSIONS,
    render_table,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"
START, END = "<!-- roles-table:start -->\n", "<!-- roles-table:end -->"
P = Permission


def test_every_role_and_permission_is_defined_and_described() -> None:
    assert set(ROLES) == set(Role) == set(ROLE_DESCRIPTIONS)
    assert set(DESCRIPTIONS) == set(Permission)
    assert [r.value for r in Role] == ["admin", "operator", "auditor", "agency", "csirt"]
    for role in Role:
        assert ROLES[role], role
        assert permissions(role) == ROLES[role]
        for p in Permission:
            assert allowed(role, p) == (p in ROLES[role])
            assert allowed(role.value, p.value) == allowed(role, p)


def test_every_permission_is_held_by_someone() -> None:
    held = frozenset().union(*ROLES.values())
    assert held == set(Permission)


def test_no_permission_alters_or_deletes_the_ledger() -> None:
    # SEC-5: nobody, the administrator included, may alter or delete logs. There is no such
    # permission to grant: the ledger permissions are read, verify and export.
    ledger = {p for p in Permission if p.value.startswith(("ledger.", "events.", "audit."))}
    assert {p.value.split(".")[1] for p in ledger} <= {"read", "search", "verify", "export"}
    for p in Permission:
        for word in ("delete", "write", "alter", "edit", "purge", "append", "retention"):
            assert word not in p.value


def test_admin_manages_people_but_reads_no_evidence() -> None:
    admin = ROLES[Role.ADMIN]
    assert {P.USERS_MANAGE, P.ROLES_GRANT, P.CONFIG_MANAGE, P.TOKENS_MANAGE} <= admin
    for p in (P.EVENTS_SEARCH, P.EVENTS_READ, P.LEDGER_EXPORT, P.INCIDENTS_MANAGE):
        assert not allowed(Role.ADMIN, p), p


def test_only_the_admin_grants_and_manages_accounts() -> None:
    for p in (P.USERS_MANAGE, P.ROLES_GRANT, P.CONFIG_MANAGE, P.TOKENS_MANAGE):
        assert [r for r in Role if allowed(r, p)] == [Role.ADMIN], p


def test_auditor_reads_everything_verifies_exports_and_changes_nothing() -> None:
    auditor = ROLES[Role.AUDITOR]
    readable = {p for p in Permission if p.value.split(".")[1] in {"read", "search", "status"}}
    assert readable | {P.LEDGER_VERIFY, P.LEDGER_EXPORT} == auditor
    assert not any(p.value.endswith((".manage", ".grant")) for p in auditor)
    assert [r for r in Role if allowed(r, P.LEDGER_EXPORT)] == [Role.AUDITOR]


def test_agency_and_csirt() -> None:
    assert {P.REPORTS_READ, P.EVENTS_SEARCH} <= ROLES[Role.AGENCY]
    assert {P.INCIDENTS_MANAGE, P.EVENTS_SEARCH} <= ROLES[Role.CSIRT]
    # FLT-1/FLT-4: the contractor's operators run incidents with the agency's CSIRT.
    assert [r for r in Role if allowed(r, P.INCIDENTS_MANAGE)] == [Role.OPERATOR, Role.CSIRT]
    # OPS-1: the agency files service-desk requests; the operators answer them.
    assert [r for r in Role if allowed(r, P.TICKETS_MANAGE)] == [Role.OPERATOR, Role.AGENCY]
    assert [r for r in Role if allowed(r, P.ALERTS_MANAGE)] == [Role.OPERATOR]
    for role in (Role.AGENCY, Role.CSIRT, Role.OPERATOR):
        assert not allowed(role, P.USERS_MANAGE) and not allowed(role, P.LEDGER_EXPORT)


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        ("root", "events.read"),
        ("", "events.read"),
        ("ADMIN", "users.manage"),
        ("admin", "users.delete"),
        ("admin", ""),
        ("auditor", "ledger.*"),
    ],
)
def test_unknown_roles_and_permissions_are_refused(role: str, permission: str) -> None:
    assert not allowed(role, permission)
    if role not in {r.value for r in Role}:
        assert permissions(role) == frozenset()


def test_parse_role() -> None:
    assert parse_role("csirt") is Role.CSIRT
    with pytest.raises(AccessError) as info:
        parse_role("root")
    assert "'root' is not a role" in info.value.message
    assert (
        info.value.hint is not None and "admin, operator, auditor, agency, csirt" in info.value.hint
    )


def test_token_scopes_have_permissions_and_read_only_reads() -> None:
    assert set(SCOPE_PERMISSIONS) == set(SCOPES)
    assert SCOPE_PERMISSIONS["read"] <= ROLES[Role.AUDITOR]
    assert not any(
        p.value.endswith((".manage", ".grant", ".export")) for p in SCOPE_PERMISSIONS["read"]
    )


def test_docs_table_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert START in text and END in text, "docs/roles.md lost its table markers"
    table = text.split(START, 1)[1].split(END, 1)[0]
    assert table == render_table(), (
        "docs/roles.md is out of date: replace its table with the output of "
        "`python -c 'from mamori.access.roles import render_table; print(render_table(), end=\"\")'`"
    )


def test_docs_describe_every_role_and_permission() -> None:
    text = DOC.read_text(encoding="utf-8")
    for role in Role:
        assert f"### `{role.value}`" in text, role
    for p in Permission:
        assert f"`{p.value}`" in text, p
