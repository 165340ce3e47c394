"""Passwords: Argon2id with the documented parameters, the policy, one-time passwords."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.access import passwords
from mamori.access.passwords import PasswordPolicyError, check_policy
from tests.access.conftest import FAST, REAL_PARAMETERS


@pytest.mark.usefixtures("real_hashing")
def test_hashes_are_argon2id_with_the_documented_parameters() -> None:
    assert passwords.Parameters(time_cost=3, memory_kib=65536, parallelism=4) == REAL_PARAMETERS
    h = passwords.hash_password("correct horse battery")
    assert h.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct horse battery" not in h
    assert passwords.verify_password(h, "correct horse battery") == passwords.Verified(True, False)
    assert passwords.verify_password(h, "correct horse batterY") == passwords.Verified(False)
    assert passwords.hash_password("correct horse battery") != h  # a new salt each time


@pytest.mark.usefixtures("fast_hashing")
def test_a_hash_of_other_parameters_needs_rehashing() -> None:
    old = passwords.hash_password("correct horse battery", REAL_PARAMETERS)
    assert passwords.verify_password(old, "correct horse battery") == passwords.Verified(True, True)
    new = passwords.hash_password("correct horse battery")
    assert new.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert passwords.verify_password(new, "correct horse battery") == passwords.Verified(
        True, False
    )


@pytest.mark.usefixtures("fast_hashing")
@pytest.mark.parametrize("stored", ["", "plain", "$argon2id$v=19$m=1024,t=1,p=1$x$y", "$2b$12$abc"])
def test_a_malformed_stored_hash_matches_nothing(stored: str) -> None:
    assert passwords.verify_password(stored, "anything at all") == passwords.Verified(False)


@pytest.mark.usefixtures("fast_hashing")
def test_full_width_and_half_width_are_one_password() -> None:
    # NFKC: what a Japanese input method types in full-width is the ASCII password.
    h = passwords.hash_password("Ｐａｓｓ　ｗｏｒｄ１２３４")
    assert passwords.verify_password(h, "Pass word1234").ok
    assert check_policy("Ｐａｓｓ　ｗｏｒｄ１２３４", name="x") == "Pass word1234"


@pytest.mark.parametrize(
    ("password", "name", "old", "message"),
    [
        ("short", "tanaka", None, "5 characters; at least 12"),
        ("１２３４５６７８９０１", "tanaka", None, "11 characters"),
        ("x" * 1025, "tanaka", None, "at most 1024"),
        ("tanaka.ichiro", "Tanaka.Ichiro", None, "the account's name"),
        ("Password1234", "tanaka", None, "most common"),
        ("QWERTY123456", "tanaka", None, "most common"),
        ("ｐａｓｓｗｏｒｄ１２３４", "tanaka", None, "most common"),
        ("aaaaaaaaaaaaaaa", "tanaka", None, "most common"),
        ("my old long passphrase", "tanaka", "my old long passphrase", "is the current one"),
    ],
)
def test_policy_refusals_say_why_and_what_to_do(
    password: str, name: str, old: str | None, message: str
) -> None:
    with pytest.raises(PasswordPolicyError) as info:
        check_policy(password, name=name, old=old)
    assert message in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "ひらがなとカタカナの合言葉", "xy" * 512, "kfq7-2mzp-wx9d"],
)
def test_policy_accepts_reasonable_passwords(password: str) -> None:
    assert check_policy(password, name="tanaka", old="something else") == password


@settings(max_examples=300)
@given(st.text(max_size=40), st.text(max_size=20))
def test_policy_never_fails_other_than_with_a_policy_error(password: str, name: str) -> None:
    try:
        ok = check_policy(password, name=name)
    except PasswordPolicyError as e:
        assert e.message and e.hint
    else:
        assert len(ok) >= passwords.MIN_LENGTH
        assert ok.casefold() not in passwords.COMMON
        assert ok.casefold() != passwords.normalise(name).casefold()


def test_common_list_holds_only_passwords_the_length_rule_lets_through() -> None:
    assert all(len(p) >= passwords.MIN_LENGTH and p == p.casefold() for p in passwords.COMMON)


def test_one_time_passwords_pass_the_policy_and_are_easy_to_type() -> None:
    seen = {passwords.one_time_password() for _ in range(200)}
    assert len(seen) == 200
    for p in seen:
        assert re.fullmatch(r"[a-hjkmnp-z2-9]{5}(-[a-hjkmnp-z2-9]{5}){3}", p)
        assert check_policy(p, name="admin") == p


def test_burn_time_does_the_work_of_a_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "PARAMETERS", FAST)
    monkeypatch.setattr(passwords, "_DUMMY", [])
    calls: list[str] = []
    real = passwords.verify_password

    def spy(
        stored: str, password: str, params: passwords.Parameters | None = None
    ) -> passwords.Verified:
        calls.append(stored)
        return real(stored, password, params)

    monkeypatch.setattr(passwords, "verify_password", spy)
    passwords.burn_time("guess")
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")
