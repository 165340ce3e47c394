"""RFC 8785 canonical JSON: the test vectors of the RFC, and the fast path against the reference."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ledger.canonical import canonical, format_number, reference

# RFC 8785 Appendix B: IEEE-754 bit patterns and their ECMAScript serialisation.
NUMBER_VECTORS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), NUMBER_VECTORS)
def test_rfc8785_number_vectors(bits: str, expected: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert format_number(value) == expected


def test_rfc8785_sorting_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3: the emoji (a surrogate pair, D83D) sorts before U+FB33.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = [k for k in json.loads(canonical(value))]
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_rfc8785_main_example() -> None:
    # RFC 8785 §3.2.2 example input, and its canonical output.
    value = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical(value).decode("utf-8") == expected


def test_escapes_and_non_ascii() -> None:
    value = {"a": '\x00\x08\t\n\x0b\x0c\r\x1f\x7f\u2028"\\日本'}
    assert canonical(value) == reference(value).encode()
    assert (
        canonical(value)
        == '{"a":"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\x7f\u2028\\"\\\\日本"}'.encode()
    )


def test_large_integers_are_kept_exactly() -> None:
    # The documented difference from RFC 8785 §3.2.2.3: no rounding of 64-bit integers.
    assert canonical({"n": 2**63 + 1}) == b'{"n":9223372036854775809}'
    assert canonical({"n": 2**70}) == b'{"n":1180591620717411303424}'


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        format_number(math.nan)


json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text()
json_values: Any = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_path_equals_reference(value: Any) -> None:
    assert canonical(value) == reference(value).encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_round_trips_and_is_idempotent(value: Any) -> None:
    data = canonical(value)
    again = orjson.loads(data)
    assert canonical(again) == data
