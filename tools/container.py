"""The Bento's container image run in the foreground, like a server process.

`make container` writes the engine (docker or podman) and the image's name to
build/container.env; the container tests and `make bench` run it from there.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import yaml

from tools.server_process import ServerProcess, free_port
from training_export.paths import REPO_ROOT

CONTAINER_ENV = REPO_ROOT / "build" / "container.env"


def built_image() -> dict[str, str] | None:
    """ENGINE and IMAGE of the last `make container`, None if it never ran."""
    if not CONTAINER_ENV.exists():
        return None
    return dict(line.split("=", 1) for line in CONTAINER_ENV.read_text().splitlines())


def image_models(engine: str, image: str) -> list[str]:
    """The model tags the image's Bento carries (its bento.yaml, at BentoML's BENTO_PATH)."""
    bento = subprocess.run(
        [engine, "run", "--rm", "--entrypoint", "cat", image, "/home/bentoml/bento/bento.yaml"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    services = yaml.safe_load(bento)["services"]  # BentoML 1.4: each service's own models
    return [model["tag"] for service in services for model in service["models"]]


class Container(ServerProcess):
    """`ENGINE run` of IMAGE with `options`, published on a free 127.0.0.1 port."""

    def __init__(self, engine: str, image: str, log: Path, options: Sequence[str] = ()) -> None:
        port = free_port()
        self.engine, self.image = engine, image
        self.name = f"credit-scoring-{port}"
        publish = ["--publish", f"127.0.0.1:{port}:3000"]
        command = [engine, "run", "--name", self.name, *publish, *options, image]
        super().__init__(command, port, log)

    def run(self, *args: str, timeout_s: float | None = None) -> str:
        """`ENGINE ARGS` (e.g. exec NAME ...); its output, AssertionError with its errors."""
        done = subprocess.run(
            [self.engine, *args], capture_output=True, text=True, timeout=timeout_s
        )
        assert done.returncode == 0, f"{self.engine} {args[0]}: {done.stderr}"
        return done.stdout

    def stop(self, timeout_s: float = 30) -> int | None:
        """Stop the container (SIGTERM, then SIGKILL after `timeout_s`) and remove it."""
        subprocess.run(
            [self.engine, "stop", "--time", str(int(timeout_s)), self.name], capture_output=True
        )
        try:
            return super().stop(timeout_s)
        finally:
            subprocess.run([self.engine, "rm", "--force", self.name], capture_output=True)
