"""PgBouncer for bench/dbguard.py: the peer the database guard's proxy is compared with.

``PgBouncer(server_port, passwords).start()`` writes an ini file and an auth file in a
directory of its own and runs ``pgbouncer`` in the foreground (as the ``postgres`` user when run as root:
PgBouncer refuses root) in session mode, with the server's own authentication: clients log in
with SCRAM-SHA-256 against the auth file (plain passwords, from which PgBouncer also answers
the server's SCRAM challenge).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class PgBouncerError(Exception):
    """PgBouncer is not installed or did not start."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgBouncer:
    """One PgBouncer in front of one PostgreSQL server (see the module docstring)."""

    def __init__(
        self,
        server_port: int,
        passwords: Mapping[str, str],
        *,
        database: str = "app",
        pool_size: int = 150,
    ) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise PgBouncerError("pgbouncer is not installed (apt-get install pgbouncer)")
        self.binary = binary
        self.server_port = server_port
        self.passwords = dict(passwords)
        self.workdir = Path(tempfile.mkdtemp(prefix="mamori-pgbouncer-"))
        self.database = database
        self.pool_size = pool_size
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _write(self) -> Path:
        d = self.workdir
        d.mkdir(parents=True, exist_ok=True)
        users = d / "userlist.txt"
        users.write_text(
            "".join(f'"{role}" "{password}"\n' for role, password in self.passwords.items())
        )
        users.chmod(0o600)
        ini = d / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{self.database} = host=127.0.0.1 port={self.server_port} dbname={self.database}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = scram-sha-256\n"
            f"auth_file = {users}\n"
            "pool_mode = session\n"
            f"default_pool_size = {self.pool_size}\n"
            f"max_client_conn = {self.pool_size * 2}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {d / 'pgbouncer.log'}\n"
            "log_connections = 0\n"
            "log_disconnections = 0\n"
            "server_tls_sslmode = disable\n"
        )
        return ini

    def start(self, timeout: float = 15.0) -> PgBouncer:
        ini = self._write()
        kwargs: dict[str, Any] = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (self.workdir, *self.workdir.iterdir()):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        err = self.workdir / "stderr.log"
        with err.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [self.binary, "-q", str(ini)], stdout=subprocess.DEVNULL, stderr=stderr, **kwargs
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = err.read_text(errors="replace")
                raise PgBouncerError(f"pgbouncer exited with {self.proc.returncode}: {text}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise PgBouncerError(f"pgbouncer did not listen on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # SIGINT: safe shutdown, SIGTERM: immediate
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
