"""How fast `mamori vuln db import` stores advisories, against parsing alone.

Prints one JSON document: for the real PyPI advisories in ../shared/data/osv-pypi (YAML) and
for 100,000 generated records (PyPI, npm, Debian) in an OSV-style zip, the import rate
(records/s), the rate of just reading and parsing the same files without storing (the baseline,
so the ratio shows the store's overhead), the SQLite file's size, and the time of 5,000
``advisories_for`` lookups.

    .venv/bin/python bench/vuln_import.py [--records N]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import orjson

from mamori.vuln.importer import _walk, import_path, parse_document
from mamori.vuln.store import Store

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _record(i: int, rng: random.Random) -> dict[str, Any]:
    kind = i % 3
    if kind == 0:
        eco, name = "PyPI", f"py-package-{i % 20_000}"
    elif kind == 1:
        eco, name = "npm", f"@scope/js-package-{i % 20_000}"
    else:
        eco, name = f"Debian:{rng.choice(('11', '12', '13'))}", f"deb-src-{i % 10_000}"
    fixed = f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    return {
        "schema_version": "1.6.0",
        "id": f"GEN-{i:07d}",
        "modified": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T12:00:00Z",
        "published": "2025-01-01T00:00:00Z",
        "aliases": [f"CVE-2025-{i:05d}"],
        "summary": "generated advisory",
        "details": "A generated advisory for the benchmark. " * 8,
        "affected": [
            {
                "package": {"ecosystem": eco, "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
                "versions": [f"0.{v}.0" for v in range(rng.randint(0, 20))],
            }
        ],
        "references": [{"type": "WEB", "url": f"https://example.org/advisory/{i}"}],
    }


def _zip(n: int) -> bytes:
    rng = random.Random(7)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            zf.writestr(f"GEN-{i:07d}.json", orjson.dumps(_record(i, rng)))
    return buf.getvalue()


def _baseline_dir(root: Path) -> tuple[int, float]:
    t = time.perf_counter()
    count = sum(1 for p in _walk(root) if parse_document(p.read_bytes(), p.name) is not None)
    return count, time.perf_counter() - t


def _baseline_zip(path: Path) -> tuple[float, float]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        t = time.perf_counter()
        for n in names:
            json.loads(zf.read(n))
        t_json = time.perf_counter() - t
        t = time.perf_counter()
        for n in names:
            orjson.loads(zf.read(n))
        return t_json, time.perf_counter() - t


def _import(store: Store, path: Path) -> tuple[int, float, int]:
    t = time.perf_counter()
    result = import_path(store, path)
    return result.read, time.perf_counter() - t, len(result.problems)


def _lookups(store: Store, n: int) -> float:
    rng = random.Random(3)
    keys = [
        rng.choice(
            (
                ("PyPI", f"py-package-{rng.randrange(40_000)}"),
                ("npm", f"@scope/js-package-{rng.randrange(40_000)}"),
                ("Debian:12", f"deb-src-{rng.randrange(20_000)}"),
            )
        )
        for _ in range(n)
    ]
    t = time.perf_counter()
    for eco, name in keys:
        store.advisories_for(eco, name)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pypi = SHARED / "osv-pypi" / "vulns"
        if pypi.is_dir():
            count, t_parse = _baseline_dir(pypi)
            with Store(work / "pypi" / "advisories.db") as store:
                read, t_import, problems = _import(store, pypi)
                size = store.path.stat().st_size
            out["osv_pypi_yaml"] = {
                "records": read,
                "problems": problems,
                "import_s": round(t_import, 3),
                "import_records_per_s": round(read / t_import),
                "parse_only_records_per_s": round(count / t_parse),
                "store_overhead_ratio": round(t_import / t_parse, 2),
                "sqlite_bytes": size,
            }
        else:
            out["osv_pypi_yaml"] = f"skipped: {pypi} is absent"
        archive = work / "all.zip"
        archive.write_bytes(_zip(args.records))
        t_json, t_orjson = _baseline_zip(archive)
        with Store(work / "gen" / "advisories.db") as store:
            read, t_import, problems = _import(store, archive)
            size = store.path.stat().st_size
            t_lookup = _lookups(store, 5_000)
            again, t_again, _ = _import(store, archive)
        out["generated_zip"] = {
            "records": read,
            "problems": problems,
            "zip_bytes": archive.stat().st_size,
            "import_s": round(t_import, 3),
            "import_records_per_s": round(read / t_import),
            "reimport_unchanged_records_per_s": round(again / t_again),
            "parse_only_json_records_per_s": round(read / t_json),
            "parse_only_orjson_records_per_s": round(read / t_orjson),
            "store_overhead_ratio_vs_orjson": round(t_import / t_orjson, 2),
            "sqlite_bytes": size,
            "lookups_5000_s": round(t_lookup, 3),
        }
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
