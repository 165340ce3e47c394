"""The parts together on the real PyPI advisories: imported into the store (importer.py,
store.py), read back and parsed (osv.py), matched (match.py) — the store's raw records are
exactly what the matcher accepts."""

from __future__ import annotations

from pathlib import Path

from mamori.home import Home, init
from mamori.vuln import match, osv
from mamori.vuln.components import PYPI, Component
from mamori.vuln.importer import import_path
from mamori.vuln.store import Store
from tests.conftest import shared_data


def test_every_stored_record_parses_and_matches(tmp_path: Path) -> None:
    vulns = shared_data("osv-pypi", "vulns")
    home: Home = init(tmp_path / "home", origin="test.example/mamori/vuln")
    with Store.open(home) as store:
        result = import_path(store, vulns)
        assert not result.problems
        parsed: dict[str, osv.Advisory] = {}
        for folder in sorted(p.name for p in vulns.iterdir() if p.is_dir()):
            for doc in store.advisories_for(PYPI, folder, include_withdrawn=True):
                adv = osv.parse(doc, f"store:{doc.get('id')}")
                parsed[adv.id] = adv
        assert len(parsed) == store.count() == 2661
        werkzeug = [osv.parse(d, "store") for d in store.advisories_for(PYPI, "Werkzeug")]
    component = Component("werkzeug", "2.3.7", PYPI, "pkg:pypi/werkzeug@2.3.7")
    found = {f.primary_id: f for f in match.findings(component, werkzeug)}
    cve = found["CVE-2023-46136"]
    assert cve.verdict.outcome is match.Outcome.AFFECTED
    assert (cve.severity.label.value, cve.severity.score) == ("high", 7.5)
    assert set(cve.fixed) == {"2.3.8", "3.0.1"}
    fixed = Component("werkzeug", "3.0.1", PYPI, "pkg:pypi/werkzeug@3.0.1")
    assert "CVE-2023-46136" not in {f.primary_id for f in match.findings(fixed, werkzeug)}
