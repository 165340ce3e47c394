"""The console's languages: Japanese by default, English on request.

The language of a request comes from the ``lang`` cookie (set by ``GET /lang/{ja|en}``), else
``Accept-Language`` (RFC 9110 §12.5.4), else Japanese: :func:`negotiate`, pure. Messages are
Babel catalogues (``locale/{ja,en}/LC_MESSAGES/mamori.po``) compiled in memory when first
used: there is no build step and no ``.mo`` file. :func:`environment` is the Jinja2
environment of one language, with gettext/ngettext installed and autoescaping on.

Adding or changing a string: docs/console.md, "Languages". ``python -m mamori.web.locale``
lists what the catalogues lack; ``--update`` adds it to both, with an empty translation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import enum
import functools
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import jinja2
from babel.core import Locale
from babel.dates import format_datetime as _babel_datetime
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal
from babel.support import Translations
from markupsafe import Markup, escape

from mamori import __version__
from mamori.web.errors import WebError

__all__ = [
    "COOKIE",
    "DEFAULT",
    "DOMAIN",
    "LOCALE_DIR",
    "N_",
    "TEMPLATE_DIR",
    "Lang",
    "catalog",
    "environment",
    "extract_messages",
    "format_datetime",
    "format_number",
    "missing_messages",
    "negotiate",
    "parse_accept_language",
    "translations",
]

HERE: Final = Path(__file__).resolve().parent
LOCALE_DIR: Final = HERE / "locale"
TEMPLATE_DIR: Final = HERE / "templates"
PYTHON_SOURCES: Final = (HERE / "pages.py",)
"""Python modules whose ``N_("…")`` messages are shown on pages."""
DOMAIN: Final = "mamori"
COOKIE: Final = "lang"
"""The cookie that holds the chosen language."""


class Lang(enum.StrEnum):
    """A language of the console."""

    JA = "ja"
    EN = "en"

    @property
    def native_name(self) -> str:
        """The language's name in itself (for the language switch; never translated)."""
        name = Locale.parse(self.value).display_name
        return str(name)


DEFAULT: Final = Lang.JA
_BY_CODE: Final = {lang.value: lang for lang in Lang}

_ACCEPT_LANGUAGE_MAX: Final = 1024  # characters looked at; the rest of a longer header is ignored
_ACCEPT_LANGUAGE_RANGES: Final = 32  # ranges looked at
_RANGE = re.compile(r"^(?:\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
_QVALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")  # RFC 9110 §12.4.2


def N_(message: str) -> str:
    """Marks `message` for extraction; it is translated where it is shown."""
    return message


# --- choosing the language (pure) --------------------------------------------------------------


def parse_accept_language(header: str | None) -> list[tuple[str, float]]:
    """``(range, weight)`` pairs of an Accept-Language header, in header order.

    Ranges are lower-cased; malformed members are skipped; weight 0 ("not acceptable") is
    kept. Only the first 1024 characters and 32 members are read (a hostile header costs
    nothing more).
    """
    if not header:
        return []
    out: list[tuple[str, float]] = []
    for member in header[:_ACCEPT_LANGUAGE_MAX].split(",")[:_ACCEPT_LANGUAGE_RANGES]:
        language, *params = (part.strip() for part in member.split(";"))
        if not _RANGE.match(language):
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                weight = float(value) if _QVALUE.match(value) else -1.0
        if weight >= 0:
            out.append((language.lower(), weight))
    return out


def negotiate(cookie: str | None, accept_language: str | None) -> Lang:
    """The language of a request: a valid `cookie`, else the best of `accept_language`, else
    :data:`DEFAULT`.

    A range matches a language by its primary subtag (``en-GB`` is ``en``); ``*`` matches the
    languages no range names. The highest weight wins, then the earlier range, then the
    default; weight 0 excludes.
    """
    if cookie is not None and cookie in _BY_CODE:
        return _BY_CODE[cookie]
    ranges = parse_accept_language(accept_language)
    wildcard = max((weight for language, weight in ranges if language == "*"), default=None)
    chosen, chosen_key = DEFAULT, (0.0, 0, False)
    for lang in Lang:
        matches = [
            (weight, position)
            for position, (language, weight) in enumerate(ranges)
            if language.split("-", 1)[0] == lang.value
        ]
        if matches:
            weight, position = max(w for w, _ in matches), min(p for _, p in matches)
        elif wildcard is not None:
            weight, position = wildcard, len(ranges)
        else:
            continue
        key = (weight, -position, lang is DEFAULT)
        if weight > 0 and key > chosen_key:
            chosen, chosen_key = lang, key
    return chosen


# --- catalogues --------------------------------------------------------------------------------


def po_path(lang: Lang, locale_dir: Path = LOCALE_DIR) -> Path:
    """Where the catalogue of `lang` lives."""
    return locale_dir / lang.value / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalog(lang: Lang, locale_dir: Path = LOCALE_DIR) -> Catalog:
    """The message catalogue of `lang`, read from its ``.po`` file; raises WebError."""
    path = po_path(lang, locale_dir)
    try:
        with path.open("rb") as f:
            return read_po(f, locale=lang.value, domain=DOMAIN)
    except (OSError, ValueError) as e:
        raise WebError(
            f"the message catalogue {path} cannot be read: {e}",
            hint="this is a bug or a damaged installation: reinstall mamori",
        ) from e


@functools.cache
def translations(lang: Lang) -> Translations:
    """The compiled messages of `lang` (compiled once, in memory; fuzzy entries left out)."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog(lang), use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


# --- formatting --------------------------------------------------------------------------------


def format_datetime(value: dt.datetime, lang: Lang, fmt: str = "medium") -> str:
    """`value` as `lang` writes a date and time (CLDR's `fmt`: short, medium, long, full)."""
    return str(_babel_datetime(value, fmt, locale=lang.value))


def format_number(value: float, lang: Lang) -> str:
    """`value` with `lang`'s digit grouping and decimal sign."""
    return str(format_decimal(value, locale=lang.value))


# --- templates ---------------------------------------------------------------------------------


@functools.cache
def environment(lang: Lang) -> jinja2.Environment:
    """The Jinja2 environment of `lang`: templates from ``templates/``, every output escaped
    (translations and their ``%(name)s`` arguments too), an undefined name an error,
    ``_``/``gettext``/``ngettext`` in `lang` (Jinja's new style), filters ``datetime`` and
    ``number``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    messages = translations(lang)

    # Messages are text, never markup: escaped like any other output. Jinja's own gettext
    # marks what it returns as safe, so `_(x)` with an untranslated (or user-supplied) x
    # would be written out raw.
    def gettext(message: str) -> Markup:
        return escape(messages.gettext(message))

    def ngettext(singular: str, plural: str, n: int) -> Markup:
        return escape(messages.ngettext(singular, plural, n))

    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["datetime"] = lambda value, fmt="medium": format_datetime(value, lang, fmt)
    env.filters["number"] = lambda value: format_number(value, lang)
    return env


# --- extraction (for the tests and for updating the catalogues) --------------------------------

_JINJA: Final = "jinja2.ext:babel_extract"


def extract_messages(
    template_dir: Path = TEMPLATE_DIR, python_sources: Sequence[Path] = PYTHON_SOURCES
) -> Catalog:
    """Every message the pages show: ``_``/``gettext``/``ngettext`` in the templates and
    ``N_`` in `python_sources`, as a catalogue template (no translations)."""
    template = Catalog(domain=DOMAIN, project="mamori", charset="utf-8")
    found: list[tuple[str, int, Any, list[str], Any]] = []
    for filename, lineno, message, comments, context in extract_from_dir(
        template_dir, method_map=[("**.html", _JINJA)]
    ):
        found.append((str(template_dir / filename), lineno, message, comments, context))
    for source in python_sources:
        for lineno, message, comments, context in extract_from_file(
            "python", source, keywords={"N_": None}
        ):
            found.append((str(source), lineno, message, comments, context))
    for filename, lineno, message, comments, context in found:
        where = Path(filename).relative_to(HERE).as_posix()
        template.add(message, locations=[(where, lineno)], auto_comments=comments, context=context)
    return template


def missing_messages(template: Catalog, translated: Catalog) -> list[str]:
    """The ids of `template` that `translated` lacks, has only fuzzy, or leaves (in any
    plural form) untranslated; plural ids as ``singular | plural``."""
    missing = []
    for message in template:
        if not message.id:
            continue
        entry = translated.get(message.id, context=message.context)
        strings = (
            ()
            if entry is None
            else entry.string
            if isinstance(entry.string, tuple)
            else (entry.string,)
        )
        if entry is None or entry.fuzzy or not strings or not all(strings):
            missing.append(_ident(message.id))
    return missing


def _ident(message_id: str | Sequence[str]) -> str:
    return message_id if isinstance(message_id, str) else " | ".join(message_id)


def _update(langs: Iterable[Lang], locale_dir: Path, *, write: bool) -> int:
    template = extract_messages()
    incomplete = 0
    for lang in langs:
        current = catalog(lang, locale_dir)
        missing = missing_messages(template, current)
        obsolete = [_ident(m.id) for m in current if m.id and m.id not in template]
        for ident in missing:
            print(f"{lang.value}: untranslated: {ident}")
        for ident in obsolete:
            print(f"{lang.value}: no longer used: {ident}")
        incomplete += len(missing) + len(obsolete)
        if write and (missing or obsolete):
            current.update(template, no_fuzzy_matching=True)
            current.project, current.version = "mamori", __version__
            current.revision_date = dt.datetime.now(dt.UTC)
            with po_path(lang, locale_dir).open("wb") as f:
                write_po(f, current, width=100, omit_header=False, ignore_obsolete=True)
    return incomplete


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mamori.web.locale [--update]``: list (and add) what the catalogues lack."""
    parser = argparse.ArgumentParser(prog="python -m mamori.web.locale", description=main.__doc__)
    parser.add_argument(
        "--update",
        action="store_true",
        help="add the new messages to both catalogues (empty translations to fill in) and "
        "drop the ones no longer used",
    )
    args = parser.parse_args(argv)
    incomplete = _update(Lang, LOCALE_DIR, write=args.update)
    if incomplete and not args.update:
        print("fix: python -m mamori.web.locale --update, then translate the empty msgstr entries")
    return 1 if incomplete and not args.update else 0
