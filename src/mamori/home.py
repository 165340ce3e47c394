"""The data directory ("home"): its layout, `mamori init`, and opening it safely.

HOME/                 0700
  mamori.toml         the configuration, every default written out (0600)
  ledger.key          the ledger's Ed25519 signing key, PKCS#8 PEM (0600)
  ledger.pub          its signed-note verifier key, name+keyid+base64 (0644)
  ledger/ledger.db    the ledger (SQLite, WAL)
  index/search.db     the search index (derived; `mamori ledger reindex` rebuilds it)
  tls/server.crt      self-signed server certificate for syslog-TLS and HTTPS (0644)
  tls/server.key      its private key (0600)
  access.db           API tokens (hashed), devices, console accounts and sessions (SQLite, 0600)
  outbox.db           audit events from commands, waiting for the ledger writer (0600)
  detect.db           live detection's position in the ledger (0600)
  alerts.db           alerts: state, deduplication, escalation (0600)
  incidents.db        incidents, CSIRT messages, reviews, countermeasures (0600)
  tickets.db          service-desk tickets (0600)
  notify.db           notification deliveries waiting or done (0600)
  spool/              the disk spool while the ledger's storage fails ([spool] path)
  run/listen.json     where a running `mamori up` listens (written at start)
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mamori import config as config_mod
from mamori.errors import MamoriError
from mamori.fsutil import write_private

HOME_ENV = "MAMORI_HOME"


class HomeError(MamoriError):
    """The home directory is missing, not initialised, or not usable."""


@dataclass(frozen=True, slots=True)
class Home:
    """Paths inside one mamori home."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / config_mod.CONFIG_NAME

    @property
    def key_path(self) -> Path:
        return self.root / "ledger.key"

    @property
    def pub_path(self) -> Path:
        return self.root / "ledger.pub"

    @property
    def ledger_dir(self) -> Path:
        return self.root / "ledger"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def ledger_db(self) -> Path:
        return self.ledger_dir / "ledger.db"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def access_db(self) -> Path:
        return self.root / "access.db"

    @property
    def outbox_db(self) -> Path:
        return self.root / "outbox.db"

    def path(self, configured: str) -> Path:
        """A path from the configuration: relative ones are inside the home."""
        p = Path(configured).expanduser()
        return p if p.is_absolute() else self.root / p

    def config(self) -> config_mod.Config:
        return config_mod.load(self.config_path)

    def signing_key(self) -> Ed25519PrivateKey:
        """The ledger's private key; refuses a key file others can read."""
        try:
            st = self.key_path.stat()
        except FileNotFoundError as e:
            raise HomeError(
                f"the signing key {self.key_path} is missing",
                hint="restore it from your backup; without it no new checkpoint can be signed",
            ) from e
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise HomeError(
                f"the signing key {self.key_path} is readable by others "
                f"(mode {stat.S_IMODE(st.st_mode):o})",
                hint=f"chmod 600 {self.key_path}",
            )
        try:
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as e:
            raise HomeError(f"cannot read the signing key {self.key_path}: {e}") from e
        if not isinstance(key, Ed25519PrivateKey):
            raise HomeError(f"{self.key_path} is not an Ed25519 key")
        return key

    def public_key_text(self) -> str:
        try:
            return self.pub_path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise HomeError(f"cannot read the public key {self.pub_path}: {e}") from e


def resolve(path: str | Path | None) -> Path:
    """The home path from --home, else $MAMORI_HOME; an error naming both when neither is set."""
    if path is None or str(path) == "":
        env = os.environ.get(HOME_ENV)
        if not env:
            raise HomeError(
                "no home directory given",
                hint=f"pass --home DIR or set {HOME_ENV}; create one with `mamori init --home DIR`",
            )
        path = env
    return Path(path).expanduser().absolute()


def open_home(path: str | Path | None) -> Home:
    """An existing, initialised home."""
    root = resolve(path)
    if not root.exists():
        raise HomeError(
            f"the home {root} does not exist",
            hint=f"create it with `mamori init --home {root}`",
        )
    if not root.is_dir():
        raise HomeError(f"the home {root} is not a directory")
    home = Home(root)
    if not home.config_path.exists():
        raise HomeError(
            f"{root} is not an initialised mamori home (no {config_mod.CONFIG_NAME})",
            hint=f"run `mamori init --home {root}`",
        )
    home.config()  # a wrong value is reported now, by every command, naming the key
    return home


def default_origin() -> str:
    """A log origin unique to this machine and home: host, product, random suffix."""
    host = socket.gethostname().split(".")[0] or "localhost"
    host = "".join(c for c in host if c.isalnum() or c in "-_") or "localhost"
    return f"{host}.local/mamori/{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class Initialised:
    """A new home and its first administrator."""

    home: Home
    admin: str
    """The administrator's name."""
    admin_password: str = field(repr=False)
    """Its one-time password: shown once, changed at the first sign-in."""


def init(path: str | Path | None, *, origin: str | None = None) -> Home:
    """:func:`initialise`, for callers that do not hand out the administrator's one-time
    password (tests, benchmarks): `mamori users reset admin` gives it a new one."""
    return initialise(path, origin=origin).home


def initialise(path: str | Path | None, *, origin: str | None = None) -> Initialised:
    """Create a new home: directory 0700, config, keys, ledger, self-signed TLS pair (tls/),
    and the first administrator, `admin`, with a one-time password.

    Refuses to touch a directory that already holds anything.
    """
    # Imported here: these packages depend on home, not the reverse.
    from mamori.access.users import FIRST_ADMIN, create_first_admin
    from mamori.ledger.note import Signer
    from mamori.ledger.store import connect_writer
    from mamori.tlsutil import generate_self_signed

    root = resolve(path)
    if root.exists():
        if not root.is_dir():
            raise HomeError(f"{root} exists and is not a directory", hint="choose another --home")
        if any(root.iterdir()):
            what = (
                "an initialised mamori home"
                if (root / config_mod.CONFIG_NAME).exists()
                else "not empty"
            )
            raise HomeError(
                f"{root} is {what}; refusing to overwrite it",
                hint="choose another --home, or remove the directory yourself if you mean to start over",
            )
        root.chmod(0o700)
    else:
        try:
            root.mkdir(mode=0o700, parents=True)
        except OSError as e:
            raise HomeError(
                f"cannot create {root}: {e.strerror}",
                hint="check the parent directory's permissions",
            ) from e
    origin = origin or default_origin()
    text = config_mod.render(origin)
    config_mod.parse(tomllib.loads(text))  # the template must always parse
    home = Home(root)
    key = Ed25519PrivateKey.generate()
    signer = Signer(origin, key)
    try:
        write_private(
            home.key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        write_private(home.pub_path, (signer.vkey + "\n").encode("ascii"), mode=0o644)
        home.ledger_dir.mkdir(mode=0o700)
        home.index_dir.mkdir(mode=0o700)
        conn = connect_writer(home.ledger_db)
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('origin', ?)", (origin,))
        conn.close()
        home.ledger_db.chmod(0o600)
        home.tls_dir.mkdir(mode=0o700)
        tls = config_mod.TlsConfig()
        generate_self_signed(home.path(tls.cert), home.path(tls.key))
        password = create_first_admin(home)
        # The config is written last: its presence marks a complete home.
        write_private(home.config_path, text.encode("utf-8"))
    except OSError as e:
        raise HomeError(
            f"cannot write into {root}: {e.strerror}", hint="check free space and permissions"
        ) from e
    return Initialised(home, FIRST_ADMIN, password)
