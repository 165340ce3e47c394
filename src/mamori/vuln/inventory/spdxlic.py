"""Telling SPDX licence identifiers and expressions from free-text licence names (pure)."""

from __future__ import annotations

import re

COMMON_IDS = frozenset(
    {
        "0BSD", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-1.1", "Apache-2.0",
        "Artistic-2.0", "BSD-1-Clause", "BSD-2-Clause", "BSD-3-Clause", "BSL-1.0",
        "CC-BY-4.0", "CC0-1.0", "EPL-1.0", "EPL-2.0", "GPL-1.0-or-later", "GPL-2.0-only",
        "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "HPND", "ISC",
        "LGPL-2.0-only", "LGPL-2.0-or-later", "LGPL-2.1-only", "LGPL-2.1-or-later",
        "LGPL-3.0-only", "LGPL-3.0-or-later", "MIT", "MIT-0", "MPL-1.1", "MPL-2.0",
        "OpenSSL", "PSF-2.0", "Python-2.0", "Unlicense", "WTFPL", "X11", "Zlib", "blessing",
    }
)  # fmt: skip
"""Licence ids that are certainly on the SPDX licence list (CycloneDX's ``license.id`` accepts
only listed ids; anything else is exported as an expression or a name)."""

_ID = re.compile(r"^(?:LicenseRef-|DocumentRef-[A-Za-z0-9.-]+:LicenseRef-)?[A-Za-z0-9.-]+\+?$")
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def is_expression(text: str) -> bool:
    """Whether `text` is an SPDX licence expression (SPDX 2.3 Annex D): identifiers joined by
    AND, OR and WITH, with parentheses. A single identifier is an expression too."""
    tokens = _TOKEN.findall(text)
    pos = 0

    def compound() -> bool:
        nonlocal pos
        if not simple():
            return False
        while pos < len(tokens) and tokens[pos] in ("AND", "OR"):
            pos += 1
            if not simple():
                return False
        return True

    def simple() -> bool:
        nonlocal pos
        if pos >= len(tokens):
            return False
        if tokens[pos] == "(":
            pos += 1
            if not compound() or pos >= len(tokens) or tokens[pos] != ")":
                return False
            pos += 1
            return True
        if tokens[pos] in ("AND", "OR", "WITH", ")") or not _ID.match(tokens[pos]):
            return False
        pos += 1
        if pos < len(tokens) and tokens[pos] == "WITH":
            pos += 1
            if pos >= len(tokens) or not _ID.match(tokens[pos]):
                return False
            pos += 1
        return True

    if len(text) > 2000 or text.count("(") > 50:
        return False
    return bool(tokens) and compound() and pos == len(tokens)
