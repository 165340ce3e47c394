"""The webhook signature: what receivers verify."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from mamori.notify.signature import sign, signed_bytes, verify_signature

KEY = b"0123456789abcdef0123456789abcdef"
BODY = b'{"kind":"alert","subject":"\xe4\xbe\xb5\xe5\x85\xa5"}'
TS = 1_767_225_600


def test_the_scheme_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # Written out independently, as a receiver in another language would.
    expected = hmac.new(KEY, b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert sign(KEY, TS, BODY) == "sha256=" + expected
    assert signed_bytes(TS, BODY) == b"1767225600." + BODY


def test_a_good_signature_verifies() -> None:
    header = sign(KEY, TS, BODY)
    assert verify_signature(KEY, str(TS), BODY, header, now=TS)
    assert verify_signature(KEY, TS, BODY, header, now=TS + 300)
    assert verify_signature(KEY.decode(), str(TS), BODY, header, now=TS - 300)


def test_a_wrong_key_tampered_body_or_timestamp_fails() -> None:
    header = sign(KEY, TS, BODY)
    assert not verify_signature(b"another key, long enough", str(TS), BODY, header, now=TS)
    assert not verify_signature(KEY, str(TS), BODY + b" ", header, now=TS)
    assert not verify_signature(KEY, str(TS + 1), BODY, header, now=TS)
    assert not verify_signature(KEY, str(TS), BODY, header.upper(), now=TS)
    assert not verify_signature(KEY, str(TS), BODY, header.removeprefix("sha256="), now=TS)
    assert not verify_signature(KEY, str(TS), BODY, "", now=TS)


def test_an_old_or_future_timestamp_fails() -> None:
    header = sign(KEY, TS, BODY)
    assert not verify_signature(KEY, str(TS), BODY, header, now=TS + 301)
    assert not verify_signature(KEY, str(TS), BODY, header, now=TS - 301)
    assert verify_signature(KEY, str(TS), BODY, header, now=TS + 3000, tolerance_s=3600)


def test_a_malformed_timestamp_fails() -> None:
    header = sign(KEY, TS, BODY)
    for ts in ("", "-1", "1e9", " ", "１７６７２２５６００", "17672256000000000"):
        assert not verify_signature(KEY, ts, BODY, header, now=TS)


def test_any_of_several_signatures_may_match_for_key_rotation() -> None:
    header = sign(b"the old key, sixteen+", TS, BODY) + ", " + sign(KEY, TS, BODY)
    assert verify_signature(KEY, str(TS), BODY, header, now=TS)


@given(st.binary(min_size=16, max_size=64), st.binary(max_size=512), st.integers(0, 2**40))
def test_sign_then_verify(key: bytes, body: bytes, ts: int) -> None:
    assert verify_signature(key, str(ts), body, sign(key, ts, body), now=ts)
    assert not verify_signature(key, str(ts), body + b"x", sign(key, ts, body), now=ts)
