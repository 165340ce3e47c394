"""A private PostgreSQL cluster for the privilege and pgaudit tests (until tests/dbguard/pg.py).

initdb and pg_ctl from the Debian PostgreSQL packages, in a temporary directory, on a free port
of 127.0.0.1 and a Unix socket in that directory, trust authentication. PostgreSQL refuses to
run as root: as root the cluster runs as the ``postgres`` user (the Debian package creates it).
Tests skip, saying why, when the binaries (or pgaudit, when asked for) are absent.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("MAMORI_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "super"


@dataclass(frozen=True)
class Cluster:
    """A running private cluster."""

    root: Path
    port: int
    socket_dir: Path
    log_dir: Path

    def conninfo(
        self, user: str = SUPERUSER, dbname: str = "postgres", *, tcp: bool = False
    ) -> str:
        """A libpq connection string (Unix socket, or TCP to 127.0.0.1 with `tcp`)."""
        host = "127.0.0.1" if tcp else str(self.socket_dir)
        return f"host={host} port={self.port} user={user} dbname={dbname}"

    def sql(self, *statements: str, user: str = SUPERUSER, dbname: str = "postgres") -> None:
        """Run statements, each in its own transaction (autocommit)."""
        import psycopg

        with psycopg.connect(self.conninfo(user, dbname), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement.encode())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run_as() -> Mapping[str, str]:
    """subprocess keyword arguments that drop root to the postgres user."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
    return {"user": "postgres", "group": "postgres"}


@contextlib.contextmanager
def private_cluster(settings: Mapping[str, str] | None = None) -> Iterator[Cluster]:
    """Start a cluster with extra postgresql.conf `settings`; stop and delete it afterwards."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            pytest.skip(f"PostgreSQL binaries are absent ({PG_BIN / tool}): install postgresql")
    wanted = settings or {}
    if "pgaudit" in wanted.get("shared_preload_libraries", ""):
        libdir = subprocess.run(
            [str(PG_BIN / "pg_config"), "--pkglibdir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if not (Path(libdir) / "pgaudit.so").exists():
            pytest.skip("pgaudit is not installed: install postgresql-15-pgaudit")
    as_user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="mamori-pg-"))
    try:
        if as_user:
            shutil.chown(root, "postgres", "postgres")
        data = root / "data"
        log_dir = root / "log"
        port = _free_port()
        env = {**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"}
        for var in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSERVICE"):
            env.pop(var, None)
        subprocess.run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            capture_output=True,
            check=True,
            env=env,
            **as_user,  # type: ignore[call-overload]
        )
        conf = {
            "port": str(port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{root}'",
            "fsync": "off",
            "logging_collector": "on",
            "log_directory": f"'{log_dir}'",
            "log_filename": "'postgresql.log'",
            "log_timezone": "'UTC'",
            **wanted,
        }
        with (data / "postgresql.conf").open("a", encoding="utf-8") as f:
            f.writelines(f"{k} = {v}\n" for k, v in conf.items())
        proc = subprocess.run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "startup.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            capture_output=True,
            check=False,
            env=env,
            **as_user,  # type: ignore[call-overload]
        )
        if proc.returncode != 0:
            startup = (
                (root / "startup.log").read_text(errors="replace")
                if (root / "startup.log").exists()
                else ""
            )
            raise RuntimeError(f"pg_ctl start failed: {proc.stderr!r}\n{startup}")
        try:
            yield Cluster(root, port, root, log_dir)
        finally:
            subprocess.run(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
                env=env,
                **as_user,  # type: ignore[call-overload]
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
