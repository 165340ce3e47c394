"""Canonical JSON for ledger entries: RFC 8785 (JCS), with one documented difference.

The same event must always hash the same, so the bytes stored and hashed are canonical:
object members sorted, no insignificant white space, strings in the shortest escaping, numbers
in ECMAScript's shortest form. This module implements RFC 8785 with one difference:

* Integers between 2**53 and 2**64 are written exactly, as parsed. RFC 8785 §3.2.2.3 would
  round them to the nearest IEEE-754 double first. Keeping them exact loses nothing and keeps
  identifiers such as 64-bit counters intact. (Integers beyond 64 bits are parsed as doubles by
  the JSON parser, as I-JSON, RFC 7493 §2.2, expects.)

The fast path hands the object to orjson with sorted keys, whose output is byte-for-byte RFC 8785
when the object holds no floating-point number and only ASCII member names: orjson escapes
exactly the characters RFC 8785 §3.2.2.2 escapes, with the same short forms. Otherwise the
reference serialiser below is used. A property test checks the two agree.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

_SORT = orjson.OPT_SORT_KEYS

# RFC 8785 §3.2.2.2: the two-character escapes; every other control character is \u00xx.
_SHORT_ESCAPES = {
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}
_ESCAPE_TABLE = {c: f"\\u{c:04x}" for c in range(0x20)}
_ESCAPE_TABLE.update(_SHORT_ESCAPES)


def _fast_ok(value: Any) -> bool:
    """True when orjson's sorted output is already RFC 8785 for this value."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if not k.isascii():
                return False
            tv = type(v)
            if tv is str or tv is int or tv is bool or v is None:
                continue
            if tv is float or not _fast_ok(v):
                return False
        return True
    if t is list:
        for v in value:
            tv = type(v)
            if tv is str or tv is int or tv is bool or v is None:
                continue
            if tv is float or not _fast_ok(v):
                return False
        return True
    return t is not float


def canonical(value: Any) -> bytes:
    """The canonical bytes of a JSON value (see the module docstring)."""
    if _fast_ok(value):
        try:
            return orjson.dumps(value, option=_SORT)
        except TypeError:
            pass  # an integer beyond 64 bits: the reference path writes it exactly
    return reference(value).encode("utf-8")


def reference(value: Any) -> str:
    """RFC 8785 serialisation in plain Python: the specification, written out."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(reference(v) for v in value) + "]"
    if isinstance(value, dict):
        # RFC 8785 §3.2.3: members sorted by their names as UTF-16 code units.
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return "{" + ",".join(_string(k) + ":" + reference(v) for k, v in items) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _string(s: str) -> str:
    return '"' + s.translate(_ESCAPE_TABLE) + '"'


def format_number(x: float) -> str:
    """ECMAScript Number::toString (ECMA-262 §7.1.12.1), as RFC 8785 §3.2.2.3 requires."""
    if math.isnan(x) or math.isinf(x):
        raise ValueError("NaN and Infinity are not JSON numbers")
    if x == 0:
        return "0"  # also for -0.0
    sign = "-" if x < 0 else ""
    # repr() gives the shortest digits that round-trip, like ECMAScript; only the layout differs.
    digits, exp = _shortest_digits(abs(x))
    k = len(digits)
    n = exp + k  # the decimal point sits after n digits
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return sign + mantissa + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def _shortest_digits(x: float) -> tuple[str, int]:
    """Digits without leading or trailing zeros and the exponent: x == int(digits) * 10**exp."""
    r = repr(x)
    mantissa, _, exp_part = r.partition("e")
    exp = int(exp_part) if exp_part else 0
    whole, _, frac = mantissa.partition(".")
    if frac == "0":
        frac = ""
    digits = whole + frac
    exp -= len(frac)
    stripped = digits.lstrip("0")
    trailing = len(stripped) - len(stripped.rstrip("0"))
    stripped = stripped.rstrip("0")
    return stripped, exp + trailing
