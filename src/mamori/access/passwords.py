"""Passwords: Argon2id hashes, a minimal policy, and one-time passwords.

Hashing is argon2-cffi's PasswordHasher with the parameters written out below, RFC 9106 §4's
second recommended option (the one for memory-constrained hosts). A hash records its
parameters, so changing them here makes :func:`verify_password` report `needs_rehash` for older
hashes, and the sign-in that proved the password stores a new one.

Passwords are compared after Unicode NFKC normalisation (NIST SP 800-63B §5.1.1.2): the same
password typed as full-width or half-width characters, as a Japanese input method may produce
either, is the same password.
"""

from __future__ import annotations

import secrets
import threading
import unicodedata
from dataclasses import dataclass
from typing import Final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mamori.access.errors import AccessError


@dataclass(frozen=True, slots=True)
class Parameters:
    """Argon2id cost parameters."""

    time_cost: int
    """Passes over memory."""
    memory_kib: int
    """Memory per hash, in KiB."""
    parallelism: int
    """Lanes."""
    hash_len: int = 32
    """Bytes of output."""
    salt_len: int = 16
    """Bytes of random salt per hash."""


PARAMETERS: Final = Parameters(time_cost=3, memory_kib=64 * 1024, parallelism=4)
"""RFC 9106 §4, second recommended option: t=3, 64 MiB, p=4 (about 0.2 s on one core).
Changing these rehashes each password at its owner's next sign-in."""

MIN_LENGTH: Final = 12
"""Characters, after NFKC normalisation."""
MAX_LENGTH: Final = 1024
"""Characters: a longer 'password' is a mistake or an attempt to make hashing expensive."""

COMMON: Final = frozenset(
    {
        "000000000000",
        "111111111111",
        "123123123123",
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456123456",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "abcdefghijkl",
        "abc123abc123",
        "administrator",
        "adminadmin12",
        "changeme1234",
        "iloveyou1234",
        "letmein12345",
        "mamorimamori",
        "p@ssw0rd1234",
        "passw0rd1234",
        "password1234",
        "password123!",
        "passwordpassword",
        "qwerty123456",
        "qwertyuiop12",
        "qwertyuiopasdf",
        "welcome12345",
        "zaq12wsxcde3",
    }
)
"""A tiny list of the commonest passwords of 12 or more characters (compared in lowercase).
Shorter ones fail the length rule already. Not a breach corpus: it only stops the obvious."""

# Each hash holds `memory_kib` for its duration: bounding how many run at once bounds memory
# (4 × 64 MiB) whatever the number of sign-in attempts arriving together.
_SLOTS = threading.BoundedSemaphore(4)

# The one-time password alphabet: lowercase letters and digits that cannot be misread
# (no 0/o, 1/l/i).
_OTP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_OTP_GROUPS = 4
_OTP_GROUP_LEN = 5


class PasswordPolicyError(AccessError):
    """A new password does not meet the policy."""


@dataclass(frozen=True, slots=True)
class Verified:
    """The result of checking a password against a stored hash."""

    ok: bool
    needs_rehash: bool = False
    """The hash was made with other parameters: store a new one (only meaningful when ok)."""


def normalise(password: str) -> str:
    """The form a password is checked and hashed in (NFKC)."""
    return unicodedata.normalize("NFKC", password)


def _hasher(params: Parameters | None) -> argon2.PasswordHasher:
    # PARAMETERS is read at each call, not bound as a default: the parameters in force now.
    params = params or PARAMETERS
    return argon2.PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        salt_len=params.salt_len,
        type=argon2.Type.ID,
    )


def hash_password(password: str, params: Parameters | None = None) -> str:
    """The PHC-format Argon2id hash of `password` ($argon2id$v=19$m=…,t=…,p=…$salt$hash)."""
    with _SLOTS:
        return _hasher(params).hash(normalise(password))


def verify_password(stored: str, password: str, params: Parameters | None = None) -> Verified:
    """Whether `password` matches `stored`; a malformed stored hash matches nothing."""
    hasher = _hasher(params)
    candidate = normalise(password)
    try:
        with _SLOTS:
            hasher.verify(stored, candidate)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verified(ok=False)
    return Verified(ok=True, needs_rehash=hasher.check_needs_rehash(stored))


_DUMMY: list[str] = []


def burn_time(password: str, params: Parameters | None = None) -> None:
    """Spend what a verification costs, for a name with no account (so that timing does not
    tell which names exist)."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(16), params))
    verify_password(_DUMMY[0], password, params)


def check_policy(password: str, *, name: str, old: str | None = None) -> str:
    """The normalised password when it meets the policy; :class:`PasswordPolicyError` otherwise.

    At least 12 characters, at most 1024, not the account's name, not one of a few of the most
    common passwords, not one character repeated, and not the password it replaces.
    """
    p = normalise(password)
    if len(p) < MIN_LENGTH:
        raise PasswordPolicyError(
            f"the password has {len(p)} characters; at least {MIN_LENGTH} are needed",
            hint="use a longer password: a few unrelated words make a long one easy to remember",
        )
    if len(p) > MAX_LENGTH:
        raise PasswordPolicyError(
            f"the password has {len(p)} characters; at most {MAX_LENGTH} are allowed",
            hint="use a shorter password",
        )
    lowered = p.casefold()
    if lowered == normalise(name).casefold():
        raise PasswordPolicyError(
            "the password is the account's name", hint="choose a password unrelated to the name"
        )
    if lowered in COMMON or len(set(p)) == 1:
        raise PasswordPolicyError(
            "the password is one of the most common passwords",
            hint="choose one nobody would guess: a few unrelated words, or a password manager's",
        )
    if old is not None and p == normalise(old):
        raise PasswordPolicyError(
            "the new password is the current one", hint="choose a different password"
        )
    return p


def one_time_password() -> str:
    """A random password to hand out once, e.g. `k7fqz-2mzpa-…` (4 groups of 5, 99 bits)."""
    groups = (
        "".join(secrets.choice(_OTP_ALPHABET) for _ in range(_OTP_GROUP_LEN))
        for _ in range(_OTP_GROUPS)
    )
    return "-".join(groups)
