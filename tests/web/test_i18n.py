"""Languages: choosing one (pure), the catalogues' completeness, formatting, and the live
switch between Japanese and English."""

from __future__ import annotations

import datetime as dt
import re
import ssl
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import jinja2
import pytest
from babel.messages.catalog import Catalog

from mamori.web.i18n import (
    COOKIE,
    DEFAULT,
    TEMPLATE_DIR,
    Lang,
    catalog,
    environment,
    extract_messages,
    format_datetime,
    format_number,
    missing_messages,
    negotiate,
    parse_accept_language,
    translations,
)
from mamori.web.pages import NAV, error_text
from tests.web.conftest import Live

HTML = {"Accept": "text/html"}


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(live.cafile))
    with httpx.Client(base_url=live.url, verify=context, timeout=30) as c:
        yield c


# --- choosing the language --------------------------------------------------------------------


def test_japanese_is_the_default() -> None:
    assert DEFAULT is Lang.JA
    assert negotiate(None, None) is Lang.JA


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, "en", Lang.EN),
        (None, "en-US,en;q=0.9", Lang.EN),
        (None, "EN-gb", Lang.EN),
        (None, "ja-JP,ja;q=0.9,en;q=0.8", Lang.JA),
        (None, "en;q=0.5, ja;q=0.8", Lang.JA),
        (None, "fr-FR, en;q=0.3", Lang.EN),
        (None, "fr, de", Lang.JA),  # nothing we have: the default
        (None, "en;q=0, *", Lang.JA),  # en refused, anything else fine
        (None, "ja;q=0, *;q=0.5", Lang.EN),
        (None, "*", Lang.JA),
        (None, "en, ja", Lang.EN),  # equal weights: the first named
        (None, "ja, en", Lang.JA),
        (None, "en;q=1.0", Lang.EN),
        (None, "en;q=2", Lang.JA),  # not a valid weight: the range is ignored
        (None, "en;q=abc", Lang.JA),
        (None, "e n, <script>", Lang.JA),
        (None, ";;;,,,=", Lang.JA),
        (None, "", Lang.JA),
        ("en", "ja", Lang.EN),  # the cookie wins
        ("ja", "en", Lang.JA),
        ("fr", "en", Lang.EN),  # an unknown cookie value is ignored
        ("EN", None, Lang.JA),
        ("", None, Lang.JA),
    ],
)
def test_negotiate(cookie: str | None, accept: str | None, expected: Lang) -> None:
    assert negotiate(cookie, accept) is expected


def test_accept_language_is_parsed_in_order_with_weights() -> None:
    assert parse_accept_language("en-US, ja;q=0.5 , fr;q=0") == [
        ("en-us", 1.0),
        ("ja", 0.5),
        ("fr", 0.0),
    ]
    assert parse_accept_language(None) == []


def test_a_huge_accept_language_costs_only_its_start() -> None:
    header = "fr;q=0.1," * 100_000 + "en"
    assert len(parse_accept_language(header)) == 32
    assert negotiate(None, header) is Lang.JA  # "en" is far past what is read
    assert negotiate(None, "en," + header) is Lang.EN


# --- the catalogues ---------------------------------------------------------------------------


def test_every_language_has_a_catalogue_and_a_name() -> None:
    for lang in Lang:
        assert catalog(lang).locale is not None
        assert lang.native_name
        assert translations(lang) is translations(lang)  # compiled once
    assert Lang.JA.native_name == "日本語"
    assert Lang.EN.native_name == "English"


@pytest.mark.parametrize("lang", list(Lang))
def test_every_message_is_translated(lang: Lang) -> None:
    """Fails when a template or page message lacks a translation (or has only a fuzzy one)."""
    template = extract_messages()
    assert len(template) >= 20  # the extraction itself works
    missing = missing_messages(template, catalog(lang))
    assert missing == [], f"untranslated in {lang.value}: {missing}"


@pytest.mark.parametrize("lang", list(Lang))
def test_no_catalogue_entry_is_unused_or_inconsistent(lang: Lang) -> None:
    template = extract_messages()
    translated = catalog(lang)
    unused = [m.id for m in translated if m.id and m.id not in template]
    assert unused == [], f"{lang.value}: no longer used (python -m mamori.web.locale --update)"
    # Babel's checkers: placeholders (python-format) and plural forms agree with the msgid.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in translated.check()]
    assert problems == []


def test_the_completeness_check_notices_what_is_missing() -> None:
    template = Catalog(locale=None)
    template.add("Home")
    template.add(("%(num)s file", "%(num)s files"))
    template.add("New")
    translated = Catalog(locale="en")
    translated.add("Home", "Home")
    translated.add(("%(num)s file", "%(num)s files"), ("%(num)s file", ""))
    translated.add("New", "New", flags=["fuzzy"])
    assert missing_messages(template, translated) == ["%(num)s file | %(num)s files", "New"]


def test_japanese_differs_from_english_for_every_message() -> None:
    """Every message is really translated into Japanese, not copied."""
    japanese = catalog(Lang.JA)
    same = [m.id for m in japanese if m.id and m.string == m.id and m.id != "HTTP API"]
    assert same == []


_WORDS_ALLOWED = {"守り", "mamori"}  # the product's name, the same in every language
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_VISIBLE_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder", "value"}


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.text.extend(v for k, v in attrs if k in _VISIBLE_ATTRIBUTES and v)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATE_DIR.glob("*.html")))
def test_templates_have_no_text_outside_gettext(name: str) -> None:
    """Visible text in a template must come from _()/ngettext(), or it would not be
    translated (the completeness test only sees what is marked)."""
    source = (TEMPLATE_DIR / name).read_text(encoding="utf-8")
    parser = _Visible()
    parser.feed(_JINJA.sub(" ", source))
    words = set(re.findall(r"\w+", " ".join(parser.text)))
    assert words <= _WORDS_ALLOWED, f"{name}: untranslated text {sorted(words - _WORDS_ALLOWED)}"


def test_page_messages_from_python_are_extracted() -> None:
    ids = {m.id for m in extract_messages()}
    for item in NAV:
        assert item.label in ids
    for status in (400, 401, 403, 404, 405, 500, 418):
        text = error_text(status)
        assert {text.title, text.message, text.hint} <= ids


# --- formatting and escaping ------------------------------------------------------------------


def test_dates_and_numbers_follow_the_language() -> None:
    moment = dt.datetime(2026, 4, 1, 9, 5, 7, tzinfo=dt.UTC)
    assert format_datetime(moment, Lang.JA, "long") == "2026年4月1日 9:05:07 UTC"
    assert format_datetime(moment, Lang.EN, "long") == "April 1, 2026, 9:05:07\u202fAM UTC"
    assert format_number(1234567.5, Lang.JA) == "1,234,567.5"
    assert format_number(1234567.5, Lang.EN) == "1,234,567.5"


def test_templates_escape_output_and_gettext_arguments() -> None:
    env = environment(Lang.EN)
    assert env.undefined is jinja2.StrictUndefined
    rendered = env.from_string("{{ x }}|{{ _('Error %(code)s', code=x) }}").render(
        x="<script>alert(1)</script>"
    )
    assert "<script>" not in rendered
    assert rendered.count("&lt;script&gt;") == 2
    # A translation is trusted markup; a variable never is.
    assert env.from_string("{{ _(x) }}").render(x="<b>") == "&lt;b&gt;"


def test_plural_forms_per_language() -> None:
    en = environment(Lang.EN).from_string(
        "{{ ngettext('%(num)s operation documented', '%(num)s operations documented', n) }}"
    )
    ja = environment(Lang.JA).from_string(
        "{{ ngettext('%(num)s operation documented', '%(num)s operations documented', n) }}"
    )
    assert en.render(n=1) == "1 operation documented"
    assert en.render(n=3) == "3 operations documented"
    assert ja.render(n=1) == "1 件の操作を記載"  # Japanese has one form
    assert ja.render(n=3) == "3 件の操作を記載"


# --- the live switch --------------------------------------------------------------------------


def _lang_of(r: httpx.Response) -> str:
    found = re.search(r'<html lang="(\w+)">', r.text)
    assert found is not None, r.text[:200]
    return found.group(1)


def test_landing_is_japanese_by_default(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert _lang_of(r) == "ja"
    assert "ホーム" in r.text and "バージョン" in r.text
    assert "Version" not in r.text


def test_accept_language_is_honoured(client: httpx.Client) -> None:
    r = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,ja;q=0.5"})
    assert _lang_of(r) == "en"
    assert "Version" in r.text and "バージョン" not in r.text
    r = client.get("/", headers={"Accept-Language": "ja,en;q=0.9"})
    assert _lang_of(r) == "ja"


def test_switching_language_sets_a_cookie_and_returns(client: httpx.Client) -> None:
    r = client.get("/lang/en", params={"next": "/api/docs"})
    assert r.status_code == 303
    assert r.headers["location"] == "/api/docs"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=en;")
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes
    assert any(a.startswith("max-age=") for a in attributes)
    # The client now holds the cookie: English, whatever Accept-Language says.
    r = client.get("/", headers={"Accept-Language": "ja"})
    assert _lang_of(r) == "en"
    assert 'href="/lang/ja?next=/"' in r.text  # the switch back
    r = client.get("/lang/ja", params={"next": "/"})
    assert r.status_code == 303
    assert _lang_of(client.get("/")) == "ja"


def test_error_pages_follow_the_language(client: httpx.Client) -> None:
    r = client.get("/missing-page", headers=HTML)
    assert r.status_code == 404
    assert "ページが見つかりません" in r.text
    r = client.get("/missing-page", headers={**HTML, "Accept-Language": "en"})
    assert r.status_code == 404
    assert "Page not found" in r.text
    assert _lang_of(r) == "en"


def test_an_unknown_language_is_a_404_page(client: httpx.Client) -> None:
    r = client.get("/lang/fr", params={"next": "/"}, headers=HTML)
    assert r.status_code == 404
    assert "set-cookie" not in r.headers
    assert "ページが見つかりません" in r.text
