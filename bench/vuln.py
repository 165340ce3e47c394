"""How fast `mamori vuln` imports advisories and scans an inventory.

Prints one JSON document:

* ``import``: the real importer on all of ../shared/data/osv-pypi (YAML) and on N generated
  records in an OSV zip, each against a baseline in the same run (reading and parsing the same
  files without storing: with the importer's reader, and for YAML also with PyYAML alone, the
  reader before yaml_rs), and again with no worker process (``sequential``); target ≥ 20,000
  records/s.
* ``scan``: a 5,000-component inventory (PyPI, npm, Debian binaries with source packages)
  against osv-pypi plus the generated records, with end-of-life data when
  ../shared/data/endoflife is present: the first (cold) run, the median of the runs, and the
  split per phase (lookup, parse, match, eol); target < 1 s.

    .venv/bin/python bench/vuln.py [--records 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mamori.vuln import parallel
from mamori.vuln.components import Component
from mamori.vuln.importer import import_path
from mamori.vuln.scan import Database, scan
from mamori.vuln.store import Store
from vuln_import import _baseline_dir, _baseline_zip, _import

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NAMES = {"PyPI": 6_000, "npm": 6_000, "Debian": 3_000}
VECTORS = (
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N",
    "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N",
)


def _name(eco: str, i: int) -> str:
    return {"PyPI": f"py-pkg-{i}", "npm": f"@scope/js-pkg-{i}", "Debian": f"deb-src-{i}"}[eco]


def _skewed(rng: random.Random, n: int) -> int:
    # Few packages have many advisories, most have few: index density grows towards 0.
    return int(n * rng.random() ** 2)


def _ver(rng: random.Random, eco: str, major: int, minor: int, patch: int) -> str:
    base = f"{major}.{minor}.{patch}"
    return f"{base}-{rng.randint(1, 3)}+deb12u{rng.randint(1, 4)}" if eco == "Debian" else base


def _record(i: int, rng: random.Random) -> dict[str, Any]:
    eco = rng.choices(("PyPI", "npm", "Debian"), (4, 4, 2))[0]
    name = _name(eco, _skewed(rng, NAMES[eco]))
    major, minor = rng.randint(0, 5), rng.randint(0, 20)
    events: list[dict[str, str]] = [{"introduced": "0" if rng.random() < 0.3 else f"{major}.0.0"}]
    end = _ver(rng, eco, major, minor, rng.randint(0, 9))
    events.append({"last_affected": end} if rng.random() < 0.15 else {"fixed": end})
    if rng.random() < 0.1:
        events += [{"introduced": f"{major + 1}.0.0"}, {"fixed": f"{major + 1}.{minor}.1"}]
    entries = []
    for eco_name in ("Debian:12", "Debian:11") if eco == "Debian" else (eco,):
        if eco_name == "Debian:11" and rng.random() < 0.7:
            continue
        entry: dict[str, Any] = {
            "package": {"ecosystem": eco_name, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": events}],
        }
        if eco != "Debian" and rng.random() < 0.2:
            entry["versions"] = [f"{major}.{m}.0" for m in range(rng.randint(1, 30))]
        entries.append(entry)
    return {
        "schema_version": "1.6.0",
        "id": f"GEN-{i:07d}",
        "modified": "2026-05-01T12:00:00Z",
        "published": "2025-01-01T00:00:00Z",
        "aliases": [f"CVE-2025-{i:06d}"] + ([f"GHSA-gen-{i:07d}"] if rng.random() < 0.5 else []),
        "summary": f"generated advisory {i}",
        "details": "A generated advisory for the benchmark. " * 6,
        "severity": [{"type": "CVSS_V3", "score": rng.choice(VECTORS)}],
        "affected": entries,
        "references": [{"type": "ADVISORY", "url": f"https://example.org/advisory/{i}"}],
    }


def _zip(n: int) -> bytes:
    rng = random.Random(7)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            zf.writestr(f"GEN-{i:07d}.json", orjson.dumps(_record(i, rng)))
    return buf.getvalue()


def inventory(n: int = 5_000) -> list[Component]:
    """PyPI 40%, npm 40%, Debian 20%; about half drawn from packages with advisories."""
    rng = random.Random(11)
    real = ("werkzeug", "django", "requests", "jinja2", "urllib3", "pillow", "flask", "numpy")
    out: list[Component] = []
    for i in range(n):
        eco = rng.choices(("PyPI", "npm", "Debian"), (4, 4, 2))[0]
        v = f"{rng.randint(0, 5)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
        if eco == "PyPI" and rng.random() < 0.05:
            name = rng.choice(real)
        elif rng.random() < 0.5:
            name = _name(eco, rng.randrange(NAMES[eco]))
        else:
            name = f"clean-{eco.lower()}-{i}"
        if eco == "Debian":
            dv = f"{v}-{rng.randint(1, 3)}+deb12u{rng.randint(0, 4)}"
            binary = f"lib{name.removeprefix('deb-src-')}-{i % 3}"
            purl = f"pkg:deb/debian/{binary}@{dv}?distro=debian-12"
            out.append(Component(binary, dv, eco, purl, source_name=name, distro="debian:12"))
        else:
            out.append(Component(name, v, eco, f"pkg:{eco.lower()}/{name}@{v}", found_in="lock"))
    return out


def _baseline_pyyaml(root: Path) -> float:
    """Seconds to read and parse every file with PyYAML alone (the reader before yaml_rs)."""
    from mamori.vuln.importer import _walk
    from mamori.vuln.osvyaml import OsvLoader

    t = time.perf_counter()
    for p in _walk(root):
        yaml.load(p.read_bytes(), Loader=OsvLoader)
    return time.perf_counter() - t


def _sequential(work: Path, source: Path) -> float:
    """Seconds to import `source` into a new database with no worker process (--workers 0)."""
    with Store(work / f"seq-{source.name}.db") as store:
        t = time.perf_counter()
        import_path(store, source, workers=0)
        return time.perf_counter() - t


def _rate(records: int, seconds: float) -> int:
    return round(records / seconds) if seconds else 0


def bench_import(work: Path, records: int) -> tuple[dict[str, Any], Path]:
    out: dict[str, Any] = {}
    db_path = work / "all" / "advisories.db"
    pypi = SHARED / "osv-pypi" / "vulns"
    with Store(db_path) as store:
        if pypi.is_dir():
            count, t_parse = _baseline_dir(pypi)
            t_pyyaml = _baseline_pyyaml(pypi)
            read, t_import, problems = _import(store, pypi)
            out["osv_pypi_yaml"] = {
                "records": read,
                "problems": problems,
                "import_s": round(t_import, 3),
                "import_records_per_s": _rate(read, t_import),
                "baseline_parse_only_records_per_s": _rate(count, t_parse),
                "import_over_baseline": round(t_import / t_parse, 2),
                "pyyaml_parse_only_records_per_s": _rate(count, t_pyyaml),
                "import_over_pyyaml_parse": round(t_import / t_pyyaml, 2),
                "sequential_import_records_per_s": _rate(read, _sequential(work, pypi)),
            }
        else:
            out["osv_pypi_yaml"] = f"skipped: {pypi} is absent"
        archive = work / "all.zip"
        archive.write_bytes(_zip(records))
        _, t_orjson = _baseline_zip(archive)
        read, t_import, problems = _import(store, archive)
        out["generated_zip"] = {
            "records": read,
            "problems": problems,
            "import_s": round(t_import, 3),
            "import_records_per_s": _rate(read, t_import),
            "baseline_orjson_parse_only_records_per_s": _rate(read, t_orjson),
            "import_over_baseline": round(t_import / t_orjson, 2),
            "sequential_import_records_per_s": _rate(read, _sequential(work, archive)),
        }
    out["target_records_per_s"] = 20_000
    out["import_workers"] = parallel.workers_available()
    out["cpus"] = len(os.sched_getaffinity(0))
    return out, db_path


def bench_scan(db_path: Path, runs: int) -> dict[str, Any]:
    from mamori.vuln.eol import Catalogue, read_folder

    products = SHARED / "endoflife" / "products"
    cat: Catalogue | None = read_folder(products) if products.is_dir() else None
    comps = inventory()
    times: list[float] = []
    phases: list[dict[str, float]] = []
    with Store(db_path) as store:
        st = store.status(max_age_days=10_000)
        db = Database.from_status(st, 10_000)
        result = None
        for _ in range(runs):
            t = time.perf_counter()
            result = scan(
                comps, store, database=db, today=dt.date(2026, 6, 1),
                eol_catalogue=cat,
            )  # fmt: skip
            times.append(time.perf_counter() - t)
            phases.append(result.timings)
    assert result is not None
    affected = {id(i.component) for i in result.findings}
    return {
        "components": len(comps),
        "database_records": st.records,
        "eol_data": cat is not None,
        "findings": len(result.findings),
        "components_with_findings": len(affected),
        "unaudited": len(result.unaudited),
        "runs": runs,
        "first_run_s": round(times[0], 3),
        "median_s": round(statistics.median(times), 3),
        "phases_median_s": {
            k: round(statistics.median(p[k] for p in phases), 3) for k in phases[0]
        },
        "phases_first_run_s": {k: round(v, 3) for k, v in phases[0].items()},
        "target_s": 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        imported, db_path = bench_import(Path(tmp), args.records)
        out = {"import": imported, "scan": bench_scan(db_path, args.runs)}
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
