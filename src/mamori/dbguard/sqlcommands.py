"""What a statement is (its kind) and what it changes outside the data: DB-1's privilege
changes and the commands that reach the server's files and programs. Pure; read off the parse
tree (pglast). Details never quote a literal value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pglast import ast
from pglast.enums import AlterTableType, ObjectType

from mamori.dbguard.sqlvocab import (
    NATIVE_LANGUAGES,
    READ_KINDS,
    RISKY_EXTENSIONS,
    UNTRUSTED_LANGUAGES,
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a statement does that a check cares about."""

    code: str
    detail: str
    block: bool = False
    """Strong enough to refuse on its own."""


@dataclass(frozen=True, slots=True)
class StatementFacts:
    """One statement's kind, the relations it reads, and its findings."""

    kind: str
    findings: tuple[Finding, ...]
    reads_user_data: bool
    """It names a relation outside the system catalogs."""
    reads_catalog: bool
    """It names a system catalog, or asks for server information (``version()``)."""


# ---------------------------------------------------------------- kinds

_SIMPLE_KINDS: Final[dict[type[ast.Node], str]] = {
    ast.SelectStmt: "select",
    ast.InsertStmt: "insert",
    ast.UpdateStmt: "update",
    ast.DeleteStmt: "delete",
    ast.MergeStmt: "merge",
    ast.CopyStmt: "copy",
    ast.CreateRoleStmt: "create_role",
    ast.AlterRoleStmt: "alter_role",
    ast.AlterRoleSetStmt: "alter_role",
    ast.DropRoleStmt: "drop_role",
    ast.AlterDefaultPrivilegesStmt: "alter_default_privileges",
    ast.AlterOwnerStmt: "alter_owner",
    ast.ReassignOwnedStmt: "alter_owner",
    ast.DropOwnedStmt: "drop_owned",
    ast.VariableSetStmt: "set",
    ast.VariableShowStmt: "show",
    ast.TransactionStmt: "transaction",
    ast.ExplainStmt: "explain",
    ast.PrepareStmt: "prepare",
    ast.ExecuteStmt: "execute",
    ast.DeallocateStmt: "deallocate",
    ast.CallStmt: "call",
    ast.DoStmt: "do",
    ast.LockStmt: "lock",
    ast.TruncateStmt: "truncate",
    ast.VacuumStmt: "vacuum",
    ast.ListenStmt: "listen",
    ast.UnlistenStmt: "unlisten",
    ast.NotifyStmt: "notify",
    ast.DiscardStmt: "discard",
    ast.CheckPointStmt: "checkpoint",
    ast.LoadStmt: "load",
    ast.AlterSystemStmt: "alter_system",
    ast.DeclareCursorStmt: "cursor",
    ast.FetchStmt: "cursor",
    ast.ClosePortalStmt: "cursor",
}


def statement_kind(stmt: ast.Node) -> str:
    """``select``, ``insert``, … ``grant``, ``revoke``, ``create_role`` …; ``ddl`` for the rest."""
    if isinstance(stmt, (ast.GrantStmt, ast.GrantRoleStmt)):
        return "grant" if stmt.is_grant else "revoke"
    if isinstance(stmt, ast.RenameStmt) and stmt.renameType == ObjectType.OBJECT_ROLE:
        return "alter_role"
    return _SIMPLE_KINDS.get(type(stmt), "ddl")


# ---------------------------------------------------------------- DB-1 and commands


def privileges(stmt: ast.Node) -> list[Finding]:
    """DB-1: every change of privileges, roles or owners."""
    if isinstance(stmt, ast.GrantStmt):
        what = "GRANT" if stmt.is_grant else "REVOKE"
        return [Finding("priv.grant" if stmt.is_grant else "priv.revoke", f"{what} of privileges")]
    if isinstance(stmt, ast.GrantRoleStmt):
        what = "GRANT" if stmt.is_grant else "REVOKE"
        return [
            Finding("priv.grant" if stmt.is_grant else "priv.revoke", f"{what} of role membership")
        ]
    if isinstance(stmt, ast.DropOwnedStmt):
        return [Finding("priv.revoke", "DROP OWNED revokes a role's privileges")]
    if isinstance(stmt, ast.CreateRoleStmt):
        return [Finding("priv.role_change", "creates a role")]
    if isinstance(stmt, (ast.AlterRoleStmt, ast.AlterRoleSetStmt)):
        return [Finding("priv.role_change", "alters a role")]
    if isinstance(stmt, ast.RenameStmt) and stmt.renameType == ObjectType.OBJECT_ROLE:
        return [Finding("priv.role_change", "renames a role")]
    if isinstance(stmt, ast.DropRoleStmt):
        return [Finding("priv.role_change", "drops a role")]
    if isinstance(stmt, ast.AlterDefaultPrivilegesStmt):
        return [Finding("priv.default_privileges", "changes default privileges")]
    if isinstance(stmt, (ast.AlterOwnerStmt, ast.ReassignOwnedStmt)):
        return [Finding("priv.owner_change", "changes an object's owner")]
    if isinstance(stmt, (ast.CreatePolicyStmt, ast.AlterPolicyStmt)) or (
        isinstance(stmt, ast.DropStmt) and stmt.removeType == ObjectType.OBJECT_POLICY
    ):
        return [Finding("priv.row_security", "changes a row-level security policy")]
    if isinstance(stmt, ast.AlterTableStmt):
        out = []
        for cmd in stmt.cmds or ():
            if not isinstance(cmd, ast.AlterTableCmd):
                continue
            if cmd.subtype == AlterTableType.AT_ChangeOwner:
                out.append(Finding("priv.owner_change", "changes an object's owner"))
            elif cmd.subtype in (
                AlterTableType.AT_DisableRowSecurity,
                AlterTableType.AT_NoForceRowSecurity,
            ):
                out.append(Finding("priv.row_security", "turns row-level security off"))
        return out
    return []


def commands(stmt: ast.Node) -> list[Finding]:
    """Commands that reach outside the database."""
    if isinstance(stmt, ast.CopyStmt) and stmt.filename is not None:
        if stmt.is_program:
            return [
                Finding(
                    "sqli.copy_program",
                    "COPY … PROGRAM runs a shell command on the database server",
                    block=True,
                )
            ]
        return [Finding("sqli.copy_file", "COPY reads or writes a file on the database server")]
    if isinstance(stmt, ast.LoadStmt):
        return [
            Finding(
                "sqli.dangerous_command", "LOAD loads a shared library into the server", block=True
            )
        ]
    if isinstance(stmt, ast.AlterSystemStmt):
        return [Finding("sqli.dangerous_command", "ALTER SYSTEM rewrites the server's settings")]
    if isinstance(stmt, ast.CreateExtensionStmt) and (stmt.extname or "").lower() in (
        RISKY_EXTENSIONS
    ):
        return [
            Finding(
                "sqli.dangerous_command",
                f"CREATE EXTENSION {stmt.extname}, which reaches files, programs or other servers",
            )
        ]
    if isinstance(stmt, ast.CreateFunctionStmt):
        language = ""
        for opt in stmt.options or ():
            if (
                isinstance(opt, ast.DefElem)
                and opt.defname == "language"
                and isinstance(opt.arg, ast.String)
            ):
                language = (opt.arg.sval or "").lower()
        if language in NATIVE_LANGUAGES:
            return [
                Finding(
                    "sqli.dangerous_command",
                    f"a function in LANGUAGE {language}: native code in the server",
                    block=True,
                )
            ]
        if language in UNTRUSTED_LANGUAGES:
            return [
                Finding(
                    "sqli.dangerous_command",
                    f"a function in the untrusted language {language}",
                )
            ]
    return []


def follows_quietly(kind: str) -> bool:
    """Whether a statement of this kind after a query in one simple Query is unremarkable."""
    return kind in READ_KINDS
