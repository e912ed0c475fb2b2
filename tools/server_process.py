"""Run a real HTTP server as a child process: start, wait until ready, measure, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil
import requests

from training_export.paths import REPO_ROOT

BIN = Path(sys.executable).parent
# How long a stopped server's children may take to follow it before they are killed.
CHILDREN_GRACE_S = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bentoml_serve(target: str, port: int) -> list[str]:
    """The command line of `bentoml serve TARGET` on 127.0.0.1:PORT."""
    return [str(BIN / "bentoml"), "serve", target, "--host", "127.0.0.1", "--port", str(port)]


def own_bentoml_home(where: Path, shared: Path) -> Path:
    """A BentoML home of a server's own at `where`, sharing the model store of `shared`.

    `bentoml serve` empties `$BENTOML_HOME/prometheus_multiproc_dir` when it starts
    (bentoml/serving.py, `ensure_prometheus_dir`): servers sharing a home would wipe each
    other's metrics. Their decision records, under the home too, stay apart as well.
    """
    where.mkdir(parents=True, exist_ok=True)
    models = where / "models"
    if not models.exists():
        models.symlink_to(shared / "models", target_is_directory=True)
    return where


class ServerProcess:
    """A server started in its own process group, ready once `ready_path` answers 200.

    Unless `env` names a BENTOML_HOME, the server gets a home of its own next to its log,
    with the caller's model store (`own_bentoml_home`).
    """

    def __init__(
        self,
        command: Sequence[str],
        port: int,
        log: Path,
        *,
        env: dict[str, str] | None = None,
        ready_path: str = "/readyz",
        startup_timeout_s: float = 120,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.command = list(command)
        self.cwd = cwd
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.env = {**os.environ, **(env or {})}
        if "BENTOML_HOME" not in (env or {}) and "BENTOML_HOME" in os.environ:
            home = own_bentoml_home(
                log.parent / f"{log.stem}-home", Path(os.environ["BENTOML_HOME"])
            )
            self.env["BENTOML_HOME"] = str(home)
        self.ready_path = ready_path
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, *, wait: bool = True) -> None:
        """Start the server and, if `wait`, wait until it is ready."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not wait:
            return
        try:
            self.wait_ready(self.startup_timeout_s)
        except BaseException:
            self.stop()  # never leave a server behind that failed to start
            raise

    def wait_ready(self, timeout_s: float) -> float:
        """Seconds until the ready path answered 200; RuntimeError if it never did."""
        assert self.process is not None
        started = time.monotonic()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if requests.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:  # not listening or not answering yet
                pass
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"server not ready after {timeout_s}s:\n{self.tail()}")
            time.sleep(0.2)

    def stop(self, timeout_s: float = 30) -> int | None:
        """SIGTERM the process group, SIGKILL after `timeout_s`; the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        tree = self.processes()  # workers run in process groups of their own
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            for process in tree:
                with contextlib.suppress(psutil.Error):
                    process.kill()
            self.process.wait()
            raise
        # Children may outlive the main process: LitServe's inference workers went on
        # polling their queues at full CPU for ~30 s, into the next benchmarked server's run.
        _, alive = psutil.wait_procs(tree[1:], timeout=CHILDREN_GRACE_S)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=CHILDREN_GRACE_S)
        return code

    def processes(self) -> list[psutil.Process]:
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the whole process tree so far."""
        total = 0.0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        """Resident memory of the whole process tree."""
        total = 0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
