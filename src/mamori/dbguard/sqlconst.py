"""Conditions that do not depend on the row: what a tautology is made of. Pure.

An injected condition can only be built from what the attacker types: literals, operators,
functions of literals, and subqueries of their own. A condition over a column or a bound
parameter (``$1``) depends on the row or on a value the application bound, which no input can
turn into SQL, so it never counts.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from pglast import ast
from pglast.enums import A_Expr_Kind, BoolExprType, BoolTestType, NullTestType


class Dependence(enum.Enum):
    """What a condition's value depends on."""

    ROW = "row"
    """A column of the row, a bound parameter, or a correlated subquery."""
    CONSTANT = "constant"
    """Literals only (and functions and operators of them)."""
    SUBQUERY = "subquery"
    """Literals and a subquery that does not look at the row (blind injection's shape)."""


VOLATILE: Final = frozenset({"random", "gen_random_uuid", "uuid_generate_v4", "clock_timestamp"})
"""Functions whose value changes per row: ``WHERE random() < 0.01`` samples, it is no constant."""


_NODE_SLOTS: dict[type[ast.Node], tuple[str, ...]] = {}


def _node_slots(cls: type[ast.Node]) -> tuple[str, ...]:
    """The attributes of a node class that can hold nodes (pointers and lists; not names,
    numbers, flags, enums or locations): the walk reads only these."""
    slots = _NODE_SLOTS.get(cls)
    if slots is None:
        # pglast declares each class's slots as a dict: name -> SlotTypeInfo(c_type, …)
        declared: Any = getattr(cls, "__slots__", ())
        info: dict[str, Any] = declared if isinstance(declared, dict) else {}
        slots = tuple(
            name
            for name in declared
            if name not in info
            or info[name].c_type == "ValUnion"
            or (info[name].c_type.endswith("*") and info[name].c_type != "char*")
        )
        _NODE_SLOTS[cls] = slots
    return slots


def children(node: ast.Node) -> Iterator[ast.Node]:
    """The nodes directly under `node` (lists of lists flattened)."""
    for name in _node_slots(type(node)):
        value = getattr(node, name)
        if isinstance(value, ast.Node):
            yield value
        elif isinstance(value, tuple):
            stack: list[object] = [value]
            while stack:
                item = stack.pop()
                if isinstance(item, ast.Node):
                    yield item
                elif isinstance(item, tuple):
                    stack.extend(reversed(item))


def walk(node: ast.Node) -> Iterator[ast.Node]:
    """`node` and every node under it, depth first, without recursion (a statement can nest
    expressions thousands deep)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(children(n))


def defined_names(select: ast.Node) -> set[str]:
    """The names a query defines for its columns' qualifiers: tables, aliases, CTEs."""
    names: set[str] = set()
    for n in walk(select):
        if isinstance(n, ast.RangeVar):
            if n.relname:
                names.add(n.relname.lower())
            if n.alias is not None and n.alias.aliasname:
                names.add(n.alias.aliasname.lower())
        elif isinstance(n, (ast.RangeSubselect, ast.RangeFunction, ast.JoinExpr)):
            if n.alias is not None and n.alias.aliasname:
                names.add(n.alias.aliasname.lower())
        elif isinstance(n, ast.CommonTableExpr) and n.ctename:
            names.add(n.ctename.lower())
    return names


def correlated(subselect: ast.Node) -> bool:
    """Whether a subquery refers to the outer row: a qualified column whose qualifier the
    subquery does not define (``orders.user_id = users.id`` inside ``FROM orders``), or a bound
    parameter. Unqualified columns are taken to be its own (the attacker's ``SELECT password
    FROM users`` is unqualified; ORMs qualify every column)."""
    names = defined_names(subselect)
    for n in walk(subselect):
        if isinstance(n, ast.ParamRef):
            return True
        if isinstance(n, ast.ColumnRef) and n.fields and len(n.fields) >= 2:
            qualifier = n.fields[-2]
            if isinstance(qualifier, ast.String) and (qualifier.sval or "").lower() not in names:
                return True
    return False


def dependence(expr: ast.Node) -> Dependence:
    """What `expr`'s value depends on."""
    found_subquery = False
    stack = [expr]
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.ColumnRef, ast.ParamRef, ast.GroupingFunc)):
            return Dependence.ROW
        if isinstance(n, ast.FuncCall) and (n.over is not None or function_name(n) in VOLATILE):
            return Dependence.ROW
        if isinstance(n, ast.SubLink):
            if n.subselect is not None and correlated(n.subselect):
                return Dependence.ROW
            found_subquery = True
            if n.testexpr is not None:
                stack.append(n.testexpr)
            continue
        stack.extend(children(n))
    return Dependence.SUBQUERY if found_subquery else Dependence.CONSTANT


def function_name(call: ast.FuncCall) -> str:
    """The function's name, lower case, with its schema when written (``pg_catalog.`` is
    dropped: it is where PostgreSQL's own functions live anyway)."""
    parts = [(p.sval or "").lower() for p in call.funcname or () if isinstance(p, ast.String)]
    if len(parts) > 1 and parts[0] == "pg_catalog":
        parts = parts[1:]
    return ".".join(parts)


# ---------------------------------------------------------------- evaluation


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()
"""A value this evaluator does not compute (a function call, a subquery, a type it skips)."""

Value = bool | int | Decimal | str | None | _Unknown
"""A literal's value; ``None`` is SQL NULL."""

_MAX_DEPTH: Final = 64
_LIMIT: Final = 10**30
_TRUE_WORDS: Final = frozenset({"t", "true", "y", "yes", "on", "1"})
_FALSE_WORDS: Final = frozenset({"f", "false", "n", "no", "off", "0"})


def truth(expr: ast.Node) -> bool | _Unknown | None:
    """Whether a constant condition holds: True, False, None (SQL NULL: no row passes), or
    UNKNOWN when it cannot be worked out here."""
    v = evaluate(expr)
    if v is None or isinstance(v, _Unknown):
        return v
    return _as_bool(v)


def _as_bool(v: Value) -> bool | _Unknown | None:
    if v is None or isinstance(v, (bool, _Unknown)):
        return v
    if isinstance(v, (int, Decimal)):
        return v != 0  # MySQL's truth; PostgreSQL refuses a number as a condition
    word = v.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return UNKNOWN


def evaluate(expr: ast.Node, depth: int = 0) -> Value:
    """The value of a constant expression, or UNKNOWN."""
    if depth > _MAX_DEPTH:
        return UNKNOWN
    d = depth + 1
    if isinstance(expr, ast.A_Const):
        return _const(expr)
    if isinstance(expr, ast.TypeCast) and expr.arg is not None:
        return _cast(evaluate(expr.arg, d), expr.typeName)
    if isinstance(expr, ast.BoolExpr):
        return _boolean(expr, d)
    if isinstance(expr, ast.NullTest) and expr.arg is not None:
        v = evaluate(expr.arg, d)
        if isinstance(v, _Unknown):
            return v
        is_null = v is None
        return is_null if expr.nulltesttype == NullTestType.IS_NULL else not is_null
    if isinstance(expr, ast.BooleanTest) and expr.arg is not None:
        if expr.booltesttype is None:
            return UNKNOWN
        return _boolean_test(_as_bool(evaluate(expr.arg, d)), expr.booltesttype)
    if isinstance(expr, ast.A_Expr):
        return _a_expr(expr, d)
    return UNKNOWN


def _const(c: ast.A_Const) -> Value:
    if c.isnull:
        return None
    v = c.val
    if isinstance(v, ast.Integer):
        return int(v.ival or 0)
    if isinstance(v, ast.Float):
        try:
            return Decimal(v.fval or "")
        except InvalidOperation:
            return UNKNOWN
    if isinstance(v, ast.String):
        return str(v.sval)
    if isinstance(v, ast.Boolean):
        return bool(v.boolval)
    return UNKNOWN


def _cast(v: Value, type_name: ast.TypeName | None) -> Value:
    if isinstance(v, _Unknown) or v is None or type_name is None:
        return v
    names = [(n.sval or "").lower() for n in type_name.names or () if isinstance(n, ast.String)]
    target = names[-1] if names else ""
    if target in ("bool", "boolean"):
        return _as_bool(v)
    if target in ("int2", "int4", "int8", "integer", "int", "smallint", "bigint", "numeric"):
        n = _number(v)
        if isinstance(n, Decimal) and target != "numeric":
            return int(n)
        return n
    if target in ("text", "varchar", "bpchar", "char", "name"):
        return v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
    return v


def _number(v: Value) -> Value:
    if isinstance(v, bool) or v is None or isinstance(v, _Unknown):
        return UNKNOWN if isinstance(v, bool) else v
    if isinstance(v, (int, Decimal)):
        return v
    try:
        d = Decimal(v.strip())
    except InvalidOperation:
        return UNKNOWN
    return int(d) if d == d.to_integral_value() and "." not in v and "e" not in v.lower() else d


def _boolean(e: ast.BoolExpr, depth: int) -> Value:
    values = [_as_bool(evaluate(a, depth)) for a in e.args or ()]
    if e.boolop == BoolExprType.NOT_EXPR:
        v = values[0] if values else UNKNOWN
        return v if v is None or isinstance(v, _Unknown) else not v
    if e.boolop == BoolExprType.AND_EXPR:
        if any(v is False for v in values):
            return False
        if any(isinstance(v, _Unknown) for v in values):
            return UNKNOWN
        return None if any(v is None for v in values) else True
    if any(v is True for v in values):
        return True
    if any(isinstance(v, _Unknown) for v in values):
        return UNKNOWN
    return None if any(v is None for v in values) else False


def _boolean_test(v: bool | _Unknown | None, test: BoolTestType) -> Value:
    if isinstance(v, _Unknown):
        return v
    match test:
        case BoolTestType.IS_TRUE:
            return v is True
        case BoolTestType.IS_NOT_TRUE:
            return v is not True
        case BoolTestType.IS_FALSE:
            return v is False
        case BoolTestType.IS_NOT_FALSE:
            return v is not False
        case BoolTestType.IS_UNKNOWN:
            return v is None
        case BoolTestType.IS_NOT_UNKNOWN:
            return v is not None
    return UNKNOWN


def _operator(e: ast.A_Expr) -> str:
    parts = [p.sval or "" for p in e.name or () if isinstance(p, ast.String)]
    return parts[-1] if parts else ""


def _a_expr(e: ast.A_Expr, depth: int) -> Value:
    op = _operator(e)
    kind = e.kind
    if kind == A_Expr_Kind.AEXPR_IN and isinstance(e.rexpr, tuple) and e.lexpr is not None:
        left = evaluate(e.lexpr, depth)
        found = [_compare("=", left, evaluate(x, depth)) for x in e.rexpr]
        hit: Value = _any(found)
        return _not(hit) if op == "<>" else hit
    if kind in (A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_NOT_BETWEEN):
        if e.lexpr is None or not isinstance(e.rexpr, tuple) or len(e.rexpr) != 2:
            return UNKNOWN
        v = evaluate(e.lexpr, depth)
        lo, hi = (evaluate(x, depth) for x in e.rexpr)
        inside = _all([_compare(">=", v, lo), _compare("<=", v, hi)])
        return _not(inside) if kind == A_Expr_Kind.AEXPR_NOT_BETWEEN else inside
    if kind in (A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE):
        if e.lexpr is None or not isinstance(e.rexpr, ast.Node):
            return UNKNOWN
        return _like(
            evaluate(e.lexpr, depth),
            evaluate(e.rexpr, depth),
            negated=op.startswith("!"),
            fold=kind == A_Expr_Kind.AEXPR_ILIKE,
        )
    if kind in (A_Expr_Kind.AEXPR_DISTINCT, A_Expr_Kind.AEXPR_NOT_DISTINCT):
        if e.lexpr is None or not isinstance(e.rexpr, ast.Node):
            return UNKNOWN
        a, b = evaluate(e.lexpr, depth), evaluate(e.rexpr, depth)
        if isinstance(a, _Unknown) or isinstance(b, _Unknown):
            return UNKNOWN
        same = (a is None and b is None) or (
            a is not None and b is not None and _compare("=", a, b) is True
        )
        return not same if kind == A_Expr_Kind.AEXPR_DISTINCT else same
    if kind != A_Expr_Kind.AEXPR_OP or not isinstance(e.rexpr, ast.Node):
        return UNKNOWN
    right = evaluate(e.rexpr, depth)
    if e.lexpr is None:  # prefix operator
        if op == "-":
            n = _number(right)
            return -n if isinstance(n, (int, Decimal)) else n
        if op == "+":
            return _number(right)
        return UNKNOWN
    left = evaluate(e.lexpr, depth)
    if op in ("=", "<>", "!=", "<", ">", "<=", ">="):
        return _compare(op, left, right)
    if op in ("+", "-", "*", "/", "%"):
        return _arith(op, left, right)
    if op == "||":
        if left is None or right is None:
            return None
        if isinstance(left, str) and isinstance(right, str):
            return left + right
    return UNKNOWN


def _any(values: list[Value]) -> Value:
    if any(v is True for v in values):
        return True
    if any(isinstance(v, _Unknown) for v in values):
        return UNKNOWN
    return None if any(v is None for v in values) else False


def _all(values: list[Value]) -> Value:
    if any(v is False for v in values):
        return False
    if any(isinstance(v, _Unknown) for v in values):
        return UNKNOWN
    return None if any(v is None for v in values) else True


def _not(v: Value) -> Value:
    return v if v is None or isinstance(v, _Unknown) else not v


def _compare(op: str, a: Value, b: Value) -> Value:
    if isinstance(a, _Unknown) or isinstance(b, _Unknown):
        return UNKNOWN
    if a is None or b is None:
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        a, b = _as_bool(a), _as_bool(b)
        if not isinstance(a, bool) or not isinstance(b, bool):
            return UNKNOWN
        x: int | Decimal | str = int(a)
        y: int | Decimal | str = int(b)
    elif isinstance(a, str) and isinstance(b, str):
        x, y = a, b
    else:
        na, nb = _number(a), _number(b)
        if not isinstance(na, (int, Decimal)) or not isinstance(nb, (int, Decimal)):
            return UNKNOWN
        x, y = na, nb
    if isinstance(x, str) != isinstance(y, str):
        return UNKNOWN
    match op:
        case "=":
            return x == y
        case "<>" | "!=":
            return x != y
        case "<":
            return x < y  # type: ignore[operator]
        case ">":
            return x > y  # type: ignore[operator]
        case "<=":
            return x <= y  # type: ignore[operator]
        case ">=":
            return x >= y  # type: ignore[operator]
    return UNKNOWN


def _arith(op: str, a: Value, b: Value) -> Value:
    if a is None or b is None:
        return None
    na, nb = _number(a), _number(b)
    if not isinstance(na, (int, Decimal)) or not isinstance(nb, (int, Decimal)):
        return UNKNOWN
    if op in ("/", "%") and nb == 0:
        return UNKNOWN
    if not (-_LIMIT < na < _LIMIT and -_LIMIT < nb < _LIMIT):  # keep the arithmetic cheap
        return UNKNOWN
    match op:
        case "+":
            return na + nb
        case "-":
            return na - nb
        case "*":
            return na * nb
        case "/":
            if isinstance(na, int) and isinstance(nb, int):
                return int(na / nb)
            return Decimal(na) / Decimal(nb)
        case "%":
            return na % nb
    return UNKNOWN


def _like(value: Value, pattern: Value, *, negated: bool, fold: bool) -> Value:
    if value is None or pattern is None:
        return None
    if not isinstance(value, str) or not isinstance(pattern, str) or len(pattern) > 200:
        return UNKNOWN
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    hit = re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if fold else 0)) is not None
    return not hit if negated else hit
