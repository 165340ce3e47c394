"""Access control (APP-7, SEC-5): API tokens, devices, console accounts, roles and sessions,
in `HOME/access.db`.

Commands change them (`mamori tokens …`, `mamori devices …`, `mamori users …`); a running
service checks every request and connection against :class:`TokenVerifier`,
:class:`DeviceRegistry` and :class:`SessionStore`, which see changes within about a second (the
first two) or at once (sessions). See docs/access.md and docs/roles.md.
"""

from __future__ import annotations

from mamori.access.addresses import normalise_address
from mamori.access.certs import normalise_fingerprint
from mamori.access.devices import (
    Device,
    DeviceRegistry,
    add_device,
    cert_fingerprint,
    list_devices,
    revoke_device,
)
from mamori.access.errors import AccessError
from mamori.access.passwords import PasswordPolicyError, check_policy
from mamori.access.roles import ROLES, Permission, Role, allowed, parse_role, permissions
from mamori.access.sessions import (
    ABSOLUTE_TIMEOUT,
    COOKIE_NAME,
    CSRF_FIELD,
    CSRF_HEADER,
    IDLE_TIMEOUT,
    EndReason,
    NewSession,
    Session,
    SessionStore,
    Stage,
    check_csrf,
)
from mamori.access.signin import (
    LOCKOUT_DURATION,
    LOCKOUT_THRESHOLD,
    Decision,
    Outcome,
    SignInResult,
    decide,
    sign_in,
)
from mamori.access.tokens import (
    DEFAULT_EXPIRY_DAYS,
    SCOPES,
    TokenInfo,
    TokenRecord,
    TokenVerifier,
    add_token,
    list_tokens,
    revoke_token,
)
from mamori.access.totp import Enrolment
from mamori.access.users import (
    FIRST_ADMIN,
    RoleChange,
    UserRecord,
    UserState,
    add_user,
    begin_totp_enrolment,
    change_password,
    confirm_totp_enrolment,
    create_first_admin,
    disable_user,
    get_user,
    list_users,
    reset_user,
    set_role,
)

__all__ = [
    "ABSOLUTE_TIMEOUT",
    "COOKIE_NAME",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "DEFAULT_EXPIRY_DAYS",
    "FIRST_ADMIN",
    "IDLE_TIMEOUT",
    "LOCKOUT_DURATION",
    "LOCKOUT_THRESHOLD",
    "ROLES",
    "SCOPES",
    "AccessError",
    "Decision",
    "Device",
    "DeviceRegistry",
    "EndReason",
    "Enrolment",
    "NewSession",
    "Outcome",
    "PasswordPolicyError",
    "Permission",
    "Role",
    "RoleChange",
    "Session",
    "SessionStore",
    "SignInResult",
    "Stage",
    "TokenInfo",
    "TokenRecord",
    "TokenVerifier",
    "UserRecord",
    "UserState",
    "add_device",
    "add_token",
    "add_user",
    "allowed",
    "begin_totp_enrolment",
    "cert_fingerprint",
    "change_password",
    "check_csrf",
    "check_policy",
    "confirm_totp_enrolment",
    "create_first_admin",
    "decide",
    "disable_user",
    "get_user",
    "list_devices",
    "list_tokens",
    "list_users",
    "normalise_address",
    "normalise_fingerprint",
    "parse_role",
    "permissions",
    "reset_user",
    "revoke_device",
    "revoke_token",
    "set_role",
    "sign_in",
]
