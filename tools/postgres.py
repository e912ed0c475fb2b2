"""A throwaway PostgreSQL server for tests: Debian's `postgresql` package (`make postgres`),
a cluster of its own in a temporary directory, on a free port of 127.0.0.1.

PostgreSQL refuses to run as root: as root, its programs run as the package's `postgres`
user (`runuser`), and the directory belongs to that user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Self

from tools.server_process import free_port

# Debian installs each major version's programs here (postgresql-15: .../15/bin).
BIN_DIRS = "/usr/lib/postgresql/*/bin"
USER, PASSWORD = "credit", "pg-s3cret"  # password authentication, as in production
INSTALL_HINT = "Debian's postgresql: `make postgres` (apt-get install -y postgresql)"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's program directory, if any."""
    found = sorted(Path("/").glob(BIN_DIRS.lstrip("/")), key=lambda p: int(p.parent.name))
    return found[-1] if found and (found[-1] / "initdb").exists() else None


class PostgresCluster:
    """`initdb` in a temporary directory and `pg_ctl start` on a free port; `stop` and
    `start` again (a database lost and back); removed on exit."""

    def __init__(self, durable: bool = False) -> None:
        """`durable`: fsync on, as in production (the tests' servers run without, faster)."""
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise RuntimeError(f"no PostgreSQL server installed: {INSTALL_HINT}")
        self.bin = bin_dir
        self.port = free_port()
        self.durable = durable
        # Not under pytest's base directory: that is private to the user running the tests.
        self.root = Path(tempfile.mkdtemp(prefix="pg-"))
        self.data = self.root / "data"
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> Self:
        password_file = self.root / "password"
        password_file.write_text(PASSWORD)
        if self.as_owner:
            shutil.chown(password_file, "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", USER, f"--pwfile={password_file}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        self.start()
        return self

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root}"
        if not self.durable:
            options += " -c fsync=off"
        log = self.root / "server.log"
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(log), "-o", options)

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import sqlalchemy as sa

        name = f"db_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
        return self.url(name)

    def __exit__(self, *_: object) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_owner, str(self.bin / program), *args],
            capture_output=True,
            text=True,
            cwd=self.root,
        )
        if done.returncode:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()}")
