"""`[smtp]` and `[[route]]`: the defaults, and every wrong value named with its key."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from mamori import config
from mamori.configcheck import ConfigError
from mamori.notify.kinds import DEFAULT_KINDS, Kind, Security, Severity, Transport
from mamori.notify.settings import TEMPLATE, NotifyConfig, parse, redact_url

SMTP = """
[smtp]
host = "smtp.example.jp"
from = "mamori@example.jp"
"""
HOOK = """
[[route]]
name = "hook"
kind = "webhook"
url = "https://hooks.example.jp/T0/B0/xyzzy"
secret_file = "secrets/hook"
"""


def _parse(text: str) -> NotifyConfig:
    return parse(tomllib.loads(text), "mamori.toml")


def test_nothing_configured_means_nothing_sent() -> None:
    cfg = _parse("")
    assert cfg.smtp is None and cfg.routes == ()


def test_the_template_is_all_comments_and_parses() -> None:
    assert all(not line or line.startswith("#") for line in TEMPLATE.strip().splitlines())
    assert config.parse(tomllib.loads(config.render("t.example/m/1"))).notify == NotifyConfig()


def test_the_template_examples_parse_when_uncommented() -> None:
    example = TEMPLATE[TEMPLATE.index("# [smtp]") :]
    text = "\n".join(line.removeprefix("#").removeprefix(" ") for line in example.splitlines())
    cfg = _parse(text)
    assert cfg.smtp is not None and cfg.smtp.host == "smtp.example.jp"
    assert [r.name for r in cfg.routes] == ["soc-mail", "chat"]


def test_smtp_defaults() -> None:
    cfg = _parse(SMTP)
    assert cfg.smtp is not None
    s = cfg.smtp
    assert (s.port, s.security, s.username, s.password_file, s.timeout_s, s.ca_file) == (
        587,
        Security.STARTTLS,
        "",
        "",
        30,
        "",
    )
    assert s.from_addr == "mamori@example.jp"


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465)])
def test_the_default_port_follows_security(security: str, port: int) -> None:
    cfg = _parse(SMTP + f'security = "{security}"\n')
    assert cfg.smtp is not None and cfg.smtp.port == port


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_plain_smtp_is_allowed_to_this_machine(host: str) -> None:
    cfg = _parse(f'[smtp]\nhost = "{host}"\nsecurity = "none"\nfrom = "m@example.jp"\n')
    assert cfg.smtp is not None and cfg.smtp.security is Security.NONE and cfg.smtp.port == 25


def test_route_defaults() -> None:
    cfg = _parse(SMTP + '[[route]]\nname = "soc"\nkind = "email"\nto = ["soc@example.jp"]\n')
    (r,) = cfg.routes
    assert r.transport is Transport.EMAIL and r.to == ("soc@example.jp",)
    assert r.min_severity is Severity.HIGH and r.rules == ()
    assert r.kinds == DEFAULT_KINDS and Kind.CSIRT not in r.kinds
    assert cfg.route("soc") is r and cfg.route("other") is None


def test_webhook_route() -> None:
    cfg = _parse(HOOK + 'kinds = ["csirt", "alert", "alert"]\nmin_severity = "low"\n')
    (r,) = cfg.routes
    assert r.transport is Transport.WEBHOOK and r.secret_file == "secrets/hook"
    assert r.kinds == (Kind.CSIRT, Kind.ALERT) and r.min_severity is Severity.LOW
    # The URL's path may be its credential (Slack): never shown.
    assert r.target() == "https://hooks.example.jp/…"


def test_http_webhooks_are_allowed_to_this_machine() -> None:
    cfg = _parse(HOOK.replace("https://hooks.example.jp", "http://127.0.0.1:8080"))
    assert cfg.routes[0].url.startswith("http://127.0.0.1:8080/")


def test_redact_url() -> None:
    assert redact_url("https://h.example:8443/a/b?c=d") == "https://h.example:8443/…"
    assert redact_url("https://h.example") == "https://h.example/"
    assert redact_url("https://h.example/?token=x") == "https://h.example/…"


BAD: list[tuple[str, str, str]] = [
    # (config text, words the message must hold, words of the fix)
    ('[smtp]\nfrom = "m@example.jp"\n', "[smtp] host", "host ="),
    ('[smtp]\nhost = "a b"\nfrom = "m@example.jp"\n', "[smtp] host", "host ="),
    (SMTP + "port = 0\n", "[smtp] port", "1 to 65535"),
    (SMTP + 'port = "25"\n', "[smtp] port", "1 to 65535"),
    (SMTP + 'security = "ssl"\n', "[smtp] security", "starttls"),
    (SMTP + 'security = "none"\n', '[smtp] security = "none"', "127.0.0.1"),
    (SMTP + 'password = "hunter2"\n', "[smtp] password must not", "password_file"),
    (SMTP + 'username = "u"\n', "[smtp] username", "password_file"),
    (SMTP + 'password_file = "p"\n', "[smtp] password_file", "username"),
    (SMTP.replace("mamori@example.jp", "mamori"), "[smtp] from", "from ="),
    (
        SMTP.replace('"mamori@example.jp"', '"M <m@example.jp>"'),
        "[smtp] from",
        "bare address",
    ),
    (SMTP + "timeout_s = 0\n", "[smtp] timeout_s", "1 to 120"),
    (SMTP + "ca_file = 1\n", "[smtp] ca_file", "ca_file ="),
    (SMTP + "colour = 1\n", "unknown key 'colour' in [smtp]", "host"),
    ('route = {name = "x"}\n', "[[route]] tables", "[[route]]"),
    ('[[route]]\nkind = "email"\n', "[[route]] #1 name", "name ="),
    ('[[route]]\nname = "a b"\nkind = "email"\n', "[[route]] #1 name", "letters"),
    (HOOK + HOOK, '[route "hook"] is defined twice', "own name"),
    ('[[route]]\nname = "x"\nkind = "sms"\n', '[route "x"] kind', 'kind = "email"'),
    ('[[route]]\nname = "x"\n', '[route "x"] kind', 'kind = "webhook"'),
    ('[[route]]\nname = "x"\nkind = "email"\nto = ["a@example.jp"]\n', "no [smtp]", "[smtp]"),
    (SMTP + '[[route]]\nname = "x"\nkind = "email"\n', '[route "x"] to', "soc@example.jp"),
    (
        SMTP + '[[route]]\nname = "x"\nkind = "email"\nto = ["nobody"]\n',
        "[route \"x\"] to: 'nobody'",
        "bare addresses",
    ),
    (
        SMTP + '[[route]]\nname = "x"\nkind = "email"\nto = ["a@example.jp"]\nurl = "https://h"\n',
        '[route "x"] url is for webhook routes only',
        'kind = "webhook"',
    ),
    (HOOK + 'to = ["a@example.jp"]\n', '[route "hook"] to is for email routes only', "remove to"),
    (HOOK.replace("https://", "http://"), '[route "hook"] url must use https', "127.0.0.1"),
    (HOOK.replace("https://", "ftp://"), '[route "hook"] url', "https://"),
    (HOOK.replace("https://", "https://user:pw@"), "user name or password", "secret_file"),
    (HOOK.replace("xyzzy", "xyzzy#frag"), "#fragment", "url ="),
    (HOOK.replace("hooks.example.jp", "hooks.example.jp:99999"), "bad port", "url ="),
    ('[[route]]\nname = "h"\nkind = "webhook"\nsecret_file = "s"\n', '"h"] url is required', "url"),
    (HOOK.replace('secret_file = "secrets/hook"', ""), "secret_file is required", "openssl rand"),
    (HOOK + 'min_severity = "urgent"\n', '[route "hook"] min_severity', "critical"),
    (HOOK + 'rules = "mamori.*"\n', '[route "hook"] rules must be a list', "rules ="),
    (HOOK + 'rules = [""]\n', '[route "hook"] rules holds an empty string', "rules ="),
    (HOOK + "kinds = []\n", '[route "hook"] kinds is empty', "alert"),
    (HOOK + 'kinds = ["page"]\n', "[route \"hook\"] kinds: 'page'", "breach"),
    (HOOK + "enabled = true\n", "unknown key 'enabled' in [route \"hook\"]", "min_severity"),
]


@pytest.mark.parametrize(("text", "message", "fix"), BAD)
def test_a_wrong_value_names_its_key_and_the_fix(text: str, message: str, fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(text)
    assert info.value.message.startswith("mamori.toml: ")
    assert message in info.value.message, info.value.message
    assert fix in (info.value.hint or ""), info.value.diagnostics()


def test_the_password_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        _parse(SMTP + 'password = "hunter2"\n')
    assert "hunter2" not in info.value.diagnostics()


def test_a_webhook_url_is_never_echoed() -> None:
    for text in (HOOK.replace("https://", "http://"), HOOK.replace("xyzzy", "xyzzy#f")):
        with pytest.raises(ConfigError) as info:
            _parse(text)
        assert "xyzzy" not in info.value.diagnostics()


def test_the_whole_config_reports_notify_errors(tmp_path: Any) -> None:
    path = tmp_path / "mamori.toml"
    path.write_text(config.render("t.example/m/1") + SMTP + 'security = "none"\n')
    with pytest.raises(ConfigError, match=r"mamori.toml: \[smtp\] security"):
        config.load(path)
