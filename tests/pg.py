"""A throwaway PostgreSQL (+ PostGIS) server for tests: initdb into a temp dir, loopback port, stop at the end.

The binaries come from the distribution packages (Debian: ``postgresql postgresql-15-postgis-3``), found under
``/usr/lib/postgresql/*/bin`` or on PATH. PostgreSQL refuses to run as root, so as root the cluster runs as the
``postgres`` system user (``runuser``). Host connections need a password (scram-sha-256), so tests exercise the
password path for real.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SUPERUSER = "postgres"
PASSWORD = "s3cret-Pw_for-tests"
DATABASE = "masksmith_test"


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb``/``pg_ctl``/``postgres`` (newest version first), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for folder in candidates:
        if all((Path(folder) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(os.path.realpath(initdb)).parent
    return None


def _version_key(folder: str) -> float:
    try:
        return float(Path(folder).parent.name)
    except ValueError:
        return 0.0


def postgis_available(bin_dir: Path) -> bool:
    """True when the PostGIS extension files are installed for this server version."""
    result = subprocess.run(
        [str(bin_dir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False
    )
    share = Path(result.stdout.strip()) if result.returncode == 0 else bin_dir.parent / "share"
    dirs = [share / "extension", Path("/usr/share/postgresql") / bin_dir.parent.name / "extension"]
    return any((d / "postgis.control").is_file() for d in dirs)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    """One cluster; :meth:`start` / :meth:`stop` may be called repeatedly (to simulate an outage)."""

    bin_dir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="masksmith-pg-")))
    port: int = field(default_factory=free_port)
    _user: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, *, database: str = DATABASE, with_password: bool = False) -> str:
        """SQLAlchemy URL (psycopg 3); without the password unless asked."""
        secret = f":{PASSWORD}" if with_password else ""
        return f"postgresql+psycopg://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def init(self) -> None:
        """initdb with scram passwords for TCP and trust on the private Unix socket."""
        if os.geteuid() == 0:
            self._user = "postgres"
            try:
                entry = pwd.getpwnam(self._user)
            except KeyError:
                raise RuntimeError("running as root needs the 'postgres' system user") from None
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        pwfile = self.root / "pw.txt"
        pwfile.write_text(PASSWORD + "\n")
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run(
            [
                self.bin_dir / "initdb", "-D", self.data_dir, "-U", SUPERUSER, f"--pwfile={pwfile}",
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
            ]
        )  # fmt: skip
        pwfile.unlink()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            [self.bin_dir / "pg_ctl", "-D", self.data_dir, "-o", options, "-l", self.root / "log.txt",
             "-w", "-t", "60", "start"]
        )  # fmt: skip

    def stop(self) -> None:
        self._run([self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "stop"], check=False)

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket; returns unaligned output."""
        result = self._run(
            [self.bin_dir / "psql", "-h", self.root, "-p", str(self.port), "-U", SUPERUSER, "-d", database,
             "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]
        )  # fmt: skip
        return result.stdout.strip()

    def create_database(self, name: str = DATABASE, *, postgis: bool = True) -> None:
        self.psql(f"CREATE DATABASE {name}")
        if postgis:
            self.psql("CREATE EXTENSION IF NOT EXISTS postgis", database=name)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL cluster with a ``masksmith_test`` database that has PostGIS.

    Skips when the server binaries or PostGIS are not installed (CI installs the Debian packages
    ``postgresql postgresql-15-postgis-3``). Import it into a conftest or test module to use it.
    """
    pytest.importorskip("sqlalchemy", reason="SQLAlchemy is not installed (pip install 'masksmith[db]')")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'masksmith[db]')")
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql postgis)")
    if not postgis_available(bin_dir):
        pytest.skip(f"PostGIS is not installed for {bin_dir} (apt-get install postgis)")
    server = PostgresServer(bin_dir)
    try:
        server.init()
        server.start()
        server.create_database()
        yield server
    finally:
        server.cleanup()
