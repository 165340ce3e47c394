"""A private PostgreSQL cluster for the database guard's tests (and whoever else needs one).

``PgCluster.create(base)`` runs initdb (``--auth=scram-sha-256``, a password file, UTF8, locale
C), writes a test CA and a server certificate for ``localhost``/``127.0.0.1`` (so clients can
use ``sslmode=verify-full`` with :attr:`PgCluster.ca_file`), turns ``ssl`` on, listens on
127.0.0.1 at a free port and on a Unix socket in its own directory, and starts it with pg_ctl.
Durability is off (fsync, synchronous_commit): it is a test server.

Run as root (CI containers), the server runs as the ``postgres`` user (initdb refuses root).

Roles: the superuser ``postgres`` and ``app`` (owner of database ``app``), both with passwords
(:meth:`PgCluster.password`). The session-scoped fixture ``pg`` in conftest.py gives one
cluster to every test; :meth:`PgCluster.create` makes a throw-away one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class PgUnavailable(Exception):
    """The PostgreSQL server binaries are not installed."""


def find_bin() -> Path:
    """The directory of initdb, pg_ctl and postgres (MAMORI_PG_BIN, else the newest
    /usr/lib/postgresql/N/bin, else the PATH)."""
    env = os.environ.get("MAMORI_PG_BIN")
    candidates = [Path(env)] if env else []
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(v) for v in versions]
    which = shutil.which("initdb")
    if which:
        candidates.append(Path(which).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package "
        "(scripts/test does) or set MAMORI_PG_BIN"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_ca_and_server(cert_dir: Path) -> tuple[Path, Path, Path]:
    """A CA (ca.crt) and a server pair for localhost/127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mamori test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, crt, pem_key = cert_dir / "ca.crt", cert_dir / "server.crt", cert_dir / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    crt.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pem_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem_key.chmod(0o600)
    return ca_file, crt, pem_key


@dataclass
class PgCluster:
    """A running private cluster (see the module docstring)."""

    bin: Path
    base: Path
    port: int
    passwords: dict[str, str]
    run_as: tuple[int, int] | None
    """(uid, gid) the server runs as, when the tests run as root."""
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.base / "server.log"

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server's certificate (for verify-full)."""
        return self.base / "ca.crt"

    host = "127.0.0.1"

    def password(self, role: str) -> str:
        return self.passwords[role]

    # -- making one -------------------------------------------------------------------------

    @classmethod
    def create(cls, base: Path | None = None, *, extra_conf: str = "") -> PgCluster:
        """Make and start a cluster in `base` (default: a new directory in the system's temp
        directory; run as root, every directory above `base` must be open to ``postgres``)."""
        bindir = find_bin()
        base = Path(base) if base is not None else Path(tempfile.mkdtemp(prefix="mamori-pg-"))
        base.mkdir(parents=True, exist_ok=True)
        run_as: tuple[int, int] | None = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam(os.environ.get("MAMORI_PG_USER", "postgres"))
            run_as = (pw.pw_uid, pw.pw_gid)
        passwords = {"postgres": secrets.token_urlsafe(16), "app": secrets.token_urlsafe(16)}
        (base / "sock").mkdir()
        pwfile = base / "pwfile"
        pwfile.write_text(passwords["postgres"] + "\n")
        _ca, crt, key = _write_ca_and_server(base)
        if run_as is not None:
            for path in (base, base / "sock", pwfile, crt, key):
                os.chown(path, *run_as)
        cluster = cls(bindir, base, 0, passwords, run_as)
        cluster._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(cluster.data),
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        for _attempt in range(5):
            cluster.port = free_port()
            cluster._configure(crt, key, extra_conf)
            try:
                cluster._run(
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(cluster.data),
                        "-l",
                        str(cluster.log),
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ]
                )
                break
            except subprocess.CalledProcessError:
                continue
        else:
            raise RuntimeError(f"PostgreSQL did not start: {cluster.log_text()[-2000:]}")
        cluster.sql(f"CREATE ROLE app LOGIN PASSWORD '{passwords['app']}'")
        cluster.sql("CREATE DATABASE app OWNER app")
        return cluster

    def _run(self, args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        kwargs: dict[str, Any] = {}
        if self.run_as is not None:
            kwargs.update(user=self.run_as[0], group=self.run_as[1], extra_groups=[])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        return subprocess.run(
            list(args), check=True, capture_output=True, env=env, timeout=120, **kwargs
        )

    def _configure(self, crt: Path, key: Path, extra: str) -> None:
        conf = self.data / "postgresql.auto.conf"
        lines = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.socket_dir}'",
            "ssl = on",
            f"ssl_cert_file = '{crt}'",
            f"ssl_key_file = '{key}'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "max_connections = 200",
            "shared_buffers = '64MB'",
            "password_encryption = 'scram-sha-256'",
        ]
        conf.write_text("\n".join(lines) + "\n" + extra)
        if self.run_as is not None:
            os.chown(conf, *self.run_as)

    # -- using it ---------------------------------------------------------------------------

    def env(self, role: str = "postgres", **extra: str) -> dict[str, str]:
        """Environment for libpq programs (psql, pgbench) connecting straight to the server."""
        env = dict(os.environ)
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=role,
            PGPASSWORD=self.password(role),
            PGDATABASE="app" if role == "app" else "postgres",
            PGSSLMODE="disable",
            PGCONNECT_TIMEOUT="10",
        )
        env.update(extra)
        return env

    def dsn(self, role: str = "postgres", **params: Any) -> str:
        """A libpq connection string straight to the server (override host/port for a
        proxy)."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": role,
            "password": self.password(role),
            "dbname": "app" if role == "app" else "postgres",
            "sslmode": "disable",
            "connect_timeout": 10,
        }
        values.update(params)
        return " ".join(f"{k}={_quote(str(v))}" for k, v in values.items())

    def sql(self, text: str, *, role: str = "postgres", database: str | None = None) -> str:
        """Run SQL with psql straight on the server; its output (tuples only, unaligned)."""
        env = self.env(role)
        if database is not None:
            env["PGDATABASE"] = database
        proc = subprocess.run(
            [str(self.bin / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", text],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.decode(errors="replace"))
        return proc.stdout.decode()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(
                    [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]
                )

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def backend_pids(self, application: str) -> list[int]:
        out = self.sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = "
            f"'{application.replace(chr(39), chr(39) * 2)}'"
        )
        return [int(x) for x in out.split()]


def _quote(value: str) -> str:
    if value and all(c.isalnum() or c in "._-/:" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def env_with(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    out = dict(base)
    out.update(extra)
    return out


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
