"""What one parsed statement does: the findings of the injection analysis, read off
PostgreSQL's parse tree (pglast), with its kind and privilege changes (``sqlcommands``). Pure.

:mod:`mamori.dbguard.analysis` turns findings into a :class:`~mamori.dbguard.facts.Decision`;
this module only reports what it sees. Details never quote a literal value.
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast
from pglast.enums import A_Expr_Kind, BoolExprType, SetOperation

from mamori.dbguard.sqlcommands import (
    Finding,
    StatementFacts,
    commands,
    follows_quietly,
    privileges,
    statement_kind,
)
from mamori.dbguard.sqlconst import (
    UNKNOWN,
    Dependence,
    children,
    dependence,
    function_name,
    truth,
    walk,
)
from mamori.dbguard.sqlvocab import (
    ARITHMETIC_OPS,
    CATALOG_SCHEMAS,
    CATALOG_TABLES,
    COMPARISON_OPS,
    ENCODING_FUNCTIONS,
    INFO_FUNCTIONS,
    INFO_VALUE_FUNCTIONS,
    KNOWN_OPERATORS,
    NO_DATA_TABLES,
    PROBE_FUNCTIONS,
    SERVER_ACCESS_FUNCTIONS,
    SUSPECT_FUNCTIONS,
    TIMING_FUNCTIONS,
)

# ---------------------------------------------------------------- the walk


def inspect(stmt: ast.Node) -> StatementFacts:
    """The facts of one parsed statement (a ``RawStmt``'s ``stmt``)."""
    walker = _Walker()
    walker.run(stmt)
    kind = statement_kind(stmt)
    findings = walker.findings + privileges(stmt) + commands(stmt)
    if walker.timing and (walker.user_relations or findings):
        findings.append(
            Finding(
                "sqli.timing",
                f"a statement that reads data also calls {walker.timing[0]}(): how blind injection times its answers",
                block=True,
            )
        )
    elif walker.timing:
        findings.append(Finding("sqli.timing", f"calls {walker.timing[0]}()"))
    if walker.user_relations and walker.probes and not walker.union_reported:
        findings.append(
            Finding(
                "sqli.catalog_access",
                f"a statement over application data also asks for {walker.probes[0]}()",
            )
        )
    if walker.encoders >= 3:
        findings.append(
            Finding("sqli.encoded_literal", "builds text from character codes (CHR(…)||CHR(…))")
        )
    if walker.user_relations and walker.catalog_relations and not walker.union_reported:
        findings.append(
            Finding(
                "sqli.catalog_access",
                f"a statement over application data also reads the catalog {walker.catalog_relations[0]}",
            )
        )
    return StatementFacts(
        kind,
        tuple(_dedupe(findings)),
        reads_user_data=bool(walker.user_relations),
        reads_catalog=bool(walker.catalog_relations or walker.probes),
    )


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out = []
    for f in findings:
        if (f.code, f.detail) not in seen:
            seen.add((f.code, f.detail))
            out.append(f)
    return out


def _relation_name(rv: ast.RangeVar) -> str:
    return ".".join(p for p in (rv.schemaname, rv.relname) if p)


def is_catalog(rv: ast.RangeVar) -> bool:
    """A system catalog: ``pg_catalog.*``, ``information_schema.*``, an unqualified ``pg_*``
    (``pg_user``, ``pg_shadow``, ``pg_tables``), or another DBMS's catalog."""
    schema = (rv.schemaname or "").lower()
    name = (rv.relname or "").lower()
    if schema:
        return schema in CATALOG_SCHEMAS or schema.startswith("pg_")
    return name.startswith(("pg_", "rdb$")) or name in CATALOG_TABLES


class _Walker:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.user_relations: list[str] = []
        self.catalog_relations: list[str] = []
        self.timing: list[str] = []
        self.probes: list[str] = []
        self.encoders = 0
        self.union_reported = False
        self._handled: set[int] = set()
        self._like_patterns: set[int] = set()
        self._ctes: set[str] = set()
        self._setop_children: set[int] = set()

    def run(self, stmt: ast.Node) -> None:
        for n in walk(stmt):
            if isinstance(n, ast.CommonTableExpr) and n.ctename:
                self._ctes.add(n.ctename.lower())
        for n in walk(stmt):
            self._visit(n)

    def _visit(self, n: ast.Node) -> None:
        if isinstance(n, ast.RangeVar):
            self._relation(n)
        elif isinstance(n, ast.FuncCall):
            self._function(function_name(n))
        elif isinstance(n, ast.A_Expr):
            if n.kind in (A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE) and isinstance(
                n.rexpr, ast.Node
            ):
                # SQLAlchemy's contains(): "LIKE '%' || 'lamp' || '%'"
                self._like_patterns.update(id(x) for x in walk(n.rexpr))
            self._expression(n)
        elif isinstance(n, ast.BoolExpr) and n.boolop != BoolExprType.NOT_EXPR:
            if id(n) not in self._handled and dependence(n) == Dependence.CONSTANT:
                self._handled.update(id(x) for x in walk(n))
                self._odd("AND or OR between constants outside any condition")
        elif isinstance(n, ast.SelectStmt):
            self._quals(n.whereClause, top=True)
            self._quals(n.havingClause, top=True)
            self._sort(n.sortClause)
            if n.op not in (None, SetOperation.SETOP_NONE) and id(n) not in self._setop_children:
                self._set_operation(n)
        elif isinstance(n, (ast.UpdateStmt, ast.DeleteStmt)):
            self._quals(n.whereClause, top=True)
        elif isinstance(n, ast.JoinExpr) and isinstance(n.quals, ast.Node):
            self._quals(n.quals, top=True)
        elif isinstance(n, ast.CaseExpr) and n.arg is None:
            for w in n.args or ():
                if isinstance(w, ast.CaseWhen) and w.expr is not None:
                    self._predicate(w.expr, in_or=False, exempt=False)
        elif (
            isinstance(n, ast.CaseExpr)
            and n.arg is not None
            and dependence(n.arg) == Dependence.CONSTANT
        ):
            self._odd("CASE over a constant")

    # -- relations and functions

    def _relation(self, rv: ast.RangeVar) -> None:
        name = _relation_name(rv)
        if is_catalog(rv):
            self.catalog_relations.append(name)
        elif (rv.relname or "").lower() not in NO_DATA_TABLES and not (
            rv.schemaname is None and (rv.relname or "").lower() in self._ctes
        ):
            self.user_relations.append(name)

    def _function(self, name: str) -> None:
        if name in PROBE_FUNCTIONS:
            self.probes.append(name)
        if name in ENCODING_FUNCTIONS:
            self.encoders += 1
        if name in TIMING_FUNCTIONS:
            self.timing.append(name)
        elif name in SERVER_ACCESS_FUNCTIONS or name.startswith("dblink"):
            self.findings.append(
                Finding(
                    "sqli.dangerous_function",
                    f"calls {name}(), which reaches the server's files, programs or other servers",
                    block=True,
                )
            )
        elif name in SUSPECT_FUNCTIONS:
            self.findings.append(
                Finding(
                    "sqli.dangerous_function",
                    f"calls {name}(), an administration, dynamic-SQL or injection-tool function",
                )
            )

    # -- expressions out of place

    def _odd(self, detail: str) -> None:
        self.findings.append(Finding("sqli.odd_expression", detail))

    def _expression(self, e: ast.A_Expr) -> None:
        """What no application writes, and a quote or a number in the input leaves behind:
        constants compared outside a condition (``SET name = '' < ''``, ``ORDER BY 1 OR 1=1``),
        operators on quoted strings (``'abc' / col``, ``'' || ''``), a comparison of a
        comparison (``name LIKE '%' <= '%'``), MySQL's variables (``@@version``)."""
        if id(e) in self._handled:
            return
        op = _operator_name(e)
        left, right = e.lexpr, e.rexpr if isinstance(e.rexpr, ast.Node) else None
        if e.kind != A_Expr_Kind.AEXPR_OP or op in COMPARISON_OPS:
            if dependence(e) == Dependence.CONSTANT:
                self._handled.update(id(x) for x in walk(e))
                self._odd("a comparison of constants outside any condition")
            elif any(_is_comparison(x) for x in (left, right) if x is not None):
                self._odd("compares the result of a comparison")
            return
        if len(e.name or ()) == 1 and op not in KNOWN_OPERATORS:
            self._odd(f"an operator PostgreSQL does not have ({op})")
            return
        if left is None:
            if op in ("@", "@@") and isinstance(right, ast.ColumnRef):
                self._odd(f"MySQL's variable syntax ({op}name)")
            elif right is not None and _bare_string(right):
                self._odd(f"the prefix operator {op} applied to a quoted string")
            return
        if right is None:
            return
        concat_in_pattern = op == "||" and id(e) in self._like_patterns
        if (_bare_string(left) and _bare_string(right) and not concat_in_pattern) or (
            op in ARITHMETIC_OPS
            and ((_bare_string(left) and _plain(right)) or (_bare_string(right) and _plain(left)))
        ):
            self._odd(f"the operator {op} applied to a quoted string")

    def _sort(self, keys: tuple[object, ...] | None) -> None:
        for k in keys or ():
            if not isinstance(k, ast.SortBy) or k.node is None:
                continue
            node = k.node
            if isinstance(node, ast.A_Const) and isinstance(node.val, ast.Integer):
                continue  # ORDER BY 2: a column's position
            if isinstance(node, ast.BoolExpr):
                self._predicate(node, in_or=False, exempt=False)
                continue
            if dependence(node) != Dependence.ROW:
                self._odd("sorts by an expression of constants")

    # -- conditions

    def _quals(self, expr: ast.Node | None, *, top: bool) -> None:
        if expr is None:
            return
        self._conjunction(_flatten(expr, BoolExprType.AND_EXPR), whole_exempt=top)

    def _conjunction(self, conjuncts: list[ast.Node], *, whole_exempt: bool) -> None:
        for i, c in enumerate(conjuncts):
            before = conjuncts[i - 1] if i else None
            # The query builder's "WHERE 1=1 AND …" (psql's "(true AND …)"), a whole "WHERE
            # false" or "ON true" (LATERAL), and SQLAlchemy's empty IN: "x IN (NULL) AND
            # (1 != 1)".
            exempt = (whole_exempt and len(conjuncts) == 1) or (
                i == 0 and _builder_true(c, top=whole_exempt)
            )
            exempt = exempt or (before is not None and _empty_in(before))
            self._predicate(c, in_or=False, exempt=exempt)

    def _predicate(self, p: ast.Node, *, in_or: bool, exempt: bool) -> None:
        if isinstance(p, ast.BoolExpr) and dependence(p) != Dependence.ROW:
            self._constant_predicate(p, in_or=in_or, exempt=exempt)
            return
        if isinstance(p, ast.BoolExpr) and p.boolop == BoolExprType.OR_EXPR:
            branches = _flatten(p, BoolExprType.OR_EXPR)
            # SQLAlchemy's empty NOT IN: "(x NOT IN (NULL) OR (1 = 1))".
            alchemy = len(branches) == 2 and any(_empty_in(b) for b in branches)
            for b in branches:
                self._predicate(b, in_or=True, exempt=alchemy)
            return
        if isinstance(p, ast.BoolExpr) and p.boolop == BoolExprType.AND_EXPR:
            self._conjunction(_flatten(p, BoolExprType.AND_EXPR), whole_exempt=False)
            return
        if (
            isinstance(p, ast.BoolExpr)
            and p.boolop == BoolExprType.NOT_EXPR
            and any(isinstance(a, ast.BoolExpr) for a in p.args or ())
        ):
            for a in p.args or ():
                self._predicate(a, in_or=False, exempt=exempt)
            return
        self._constant_predicate(p, in_or=in_or, exempt=exempt)

    def _constant_predicate(self, p: ast.Node, *, in_or: bool, exempt: bool) -> None:
        dep = dependence(p)
        if dep == Dependence.ROW:
            return
        self._handled.update(id(x) for x in walk(p))
        if exempt or isinstance(p, (ast.NullTest, ast.FuncCall)):
            # "(NULL IS NULL OR name = NULL)": an optional filter with psycopg2's NULL pasted in;
            # a function of literals (psql's "pg_relation_is_publishable('16391')").
            return
        if dep == Dependence.SUBQUERY:
            if _comparison(p):
                self.findings.append(
                    Finding(
                        "sqli.constant_condition",
                        "compares a subquery that does not look at the row with a constant: how blind injection reads data one answer at a time",
                    )
                )
            return
        value = truth(p)
        if in_or and (value is True or value is UNKNOWN):
            self.findings.append(
                Finding(
                    "sqli.tautology",
                    "OR with a condition that does not depend on the row"
                    + (" and is always true" if value is True else ""),
                    block=True,
                )
            )
        else:
            self.findings.append(
                Finding(
                    "sqli.constant_condition",
                    "a condition made of constants only"
                    + (
                        ", always true"
                        if value is True
                        else ", never true"
                        if value in (False, None)
                        else ""
                    ),
                )
            )

    # -- UNION

    def _set_operation(self, top: ast.SelectStmt) -> None:
        leaves: list[ast.SelectStmt] = []
        stack: list[ast.SelectStmt] = [top]
        while stack:
            node = stack.pop()
            if node.op not in (None, SetOperation.SETOP_NONE):
                for side in (node.rarg, node.larg):
                    if side is not None:
                        self._setop_children.add(id(side))
                        stack.append(side)
            else:
                leaves.append(node)
        if len(leaves) < 2:
            return
        shapes = [_leaf_shape(leaf, self._ctes) for leaf in leaves]
        if any(s.user for s in shapes):
            for i, s in enumerate(shapes):
                other_user = any(o.user for j, o in enumerate(shapes) if j != i)
                if s.catalog and other_user:
                    self.union_reported = True
                    self.findings.append(
                        Finding(
                            "sqli.union_catalog",
                            f"UNION adds rows from {s.catalog} to a query over application data",
                            block=True,
                        )
                    )
                    return
        if shapes[0].user:
            for s in shapes[1:]:
                if s.padding >= 2 or (not s.user and s.constant_targets) or s.nulls >= 3:
                    self.findings.append(
                        Finding(
                            "sqli.union_select",
                            "UNION adds a SELECT padded with constants to a query over application data: how UNION-based injection matches the column count",
                        )
                    )
                    return


@dataclass(frozen=True, slots=True)
class _Leaf:
    user: bool
    catalog: str
    """The first catalog or server-information function it reads, or empty."""
    targets: int
    constant_targets: bool
    padding: int
    """Bare integer constants in its target list (``UNION SELECT 1,2,3``)."""
    nulls: int
    """NULLs in its target list (``UNION SELECT NULL,NULL,password,NULL``)."""


def _leaf_shape(leaf: ast.SelectStmt, ctes: set[str]) -> _Leaf:
    user = False
    catalog = ""
    for n in walk(leaf):
        if isinstance(n, ast.RangeVar):
            name = (n.relname or "").lower()
            if is_catalog(n):
                catalog = catalog or _relation_name(n)
            elif name not in NO_DATA_TABLES and not (n.schemaname is None and name in ctes):
                user = True
        elif isinstance(n, ast.FuncCall) and function_name(n) in INFO_FUNCTIONS:
            catalog = catalog or f"{function_name(n)}()"
        elif isinstance(n, ast.SQLValueFunction) and n.op in INFO_VALUE_FUNCTIONS:
            catalog = catalog or "the current role"
    targets = [t.val for t in leaf.targetList or () if isinstance(t, ast.ResTarget)]
    exprs = [t for t in targets if isinstance(t, ast.Node)]
    constant = bool(exprs) and all(dependence(t) != Dependence.ROW for t in exprs)
    padding = sum(1 for t in exprs if isinstance(t, ast.A_Const) and isinstance(t.val, ast.Integer))
    # "UNION SELECT NULL" and "UNION SELECT 1" count; "UNION ALL SELECT 'All'" is an extra row.
    nulls = sum(1 for t in exprs if isinstance(t, ast.A_Const) and t.isnull)
    constant = constant and (padding + nulls == len(exprs) or len(exprs) >= 2)
    if leaf.valuesLists or not exprs:  # "UNION SELECT" with nothing: a probe
        constant = True
    return _Leaf(user, catalog, len(exprs), constant, padding, nulls)


def _flatten(expr: ast.Node, op: BoolExprType) -> list[ast.Node]:
    out: list[ast.Node] = []
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, ast.BoolExpr) and e.boolop == op:
            stack.extend(reversed([a for a in e.args or () if isinstance(a, ast.Node)]))
        else:
            out.append(e)
    return out


def _builder_true(e: ast.Node, *, top: bool) -> bool:
    """``true``, or at the top of a WHERE ``1=1``: how query builders start a list of ANDs."""
    if isinstance(e, ast.A_Const) and isinstance(e.val, ast.Boolean):
        return bool(e.val.boolval)
    if not top or not isinstance(e, ast.A_Expr) or _operator_name(e) != "=":
        return False
    sides = (e.lexpr, e.rexpr)
    return all(
        isinstance(s, ast.A_Const) and isinstance(s.val, ast.Integer) and s.val.ival == 1
        for s in sides
    )


def _empty_in(e: ast.Node) -> bool:
    """``x IN (NULL)`` or ``x NOT IN (NULL)``: how SQLAlchemy renders an empty list."""
    if not isinstance(e, ast.A_Expr) or e.kind != A_Expr_Kind.AEXPR_IN:
        return False
    values = e.rexpr if isinstance(e.rexpr, tuple) else ()
    return len(values) == 1 and isinstance(values[0], ast.A_Const) and bool(values[0].isnull)


def _operator_name(e: ast.A_Expr) -> str:
    parts = [p.sval or "" for p in e.name or () if isinstance(p, ast.String)]
    return parts[-1] if parts else ""


def _bare_string(e: ast.Node) -> bool:
    """A quoted string as written, no type given: ``'abc'``."""
    return isinstance(e, ast.A_Const) and isinstance(e.val, ast.String)


def _plain(e: ast.Node) -> bool:
    """A column, or literals and operators only (no function, no cast)."""
    if isinstance(e, ast.ColumnRef):
        return True
    return all(isinstance(n, (ast.A_Const, ast.A_Expr, ast.Integer, ast.Float, ast.String))
               for n in walk(e))  # fmt: skip


def _is_comparison(e: ast.Node) -> bool:
    if not isinstance(e, ast.A_Expr):
        return False
    return e.kind in (A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE) or (
        e.kind == A_Expr_Kind.AEXPR_OP and _operator_name(e) in COMPARISON_OPS
    )


def _comparison(e: ast.Node) -> bool:
    return isinstance(e, (ast.A_Expr, ast.NullTest, ast.BooleanTest)) or (
        isinstance(e, ast.SubLink) and e.testexpr is not None
    )


__all__ = [
    "Finding",
    "StatementFacts",
    "children",
    "follows_quietly",
    "inspect",
    "is_catalog",
    "statement_kind",
]
