"""The Bento's container image, run the way deploy/kubernetes/ runs it.

`make test-container` builds the image first. The container runs as the Deployment does:
its own user and environment, read-only root file system with a writable /tmp, all
capabilities dropped, no privilege escalation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tools.container import Container, built_image
from training_export.paths import REPO_ROOT

pytestmark = pytest.mark.container

DEPLOYMENT = yaml.safe_load((REPO_ROOT / "deploy" / "kubernetes" / "deployment.yaml").read_text())
CONTAINER = DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]
STOP_TIMEOUT_S = DEPLOYMENT["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
# The Deployment's settings, less those from a Secret (the records URL: here the default
# SQLite file in the container's /tmp).
ENV_ARGS = [
    arg
    for env in CONTAINER["env"]
    if "value" in env
    for arg in ("--env", f"{env['name']}={env['value']}")
]
MEBIBYTE = 2**20
# What a cluster pulls on every scale-up; the torch CPU build alone is ~0.55 GB installed.
MAX_IMAGE_BYTES = 1.5e9
BINARY_SUFFIXES = {"Mi": 2**20, "Gi": 2**30}  # the Deployment's memory quantities


class Deployed(Container):
    """The image run as the Deployment runs it."""

    def __init__(self, image: dict[str, str], log: Path) -> None:
        options = [
            "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", *ENV_ARGS,
        ]  # fmt: skip
        super().__init__(image["ENGINE"], image["IMAGE"], log, options)

    def exec(self, *command: str) -> str:
        return self.run("exec", self.name, *command)

    def memory_bytes(self, field: str) -> int:
        """`field` of /proc/PID/smaps_rollup (Rss, Pss) summed over the container's processes.

        Summed Rss counts the pages the processes share (Python, numpy) once per process;
        Pss splits them, and is closer to the usage the memory limit sees.
        """
        lines = self.exec("sh", "-c", "cat /proc/[0-9]*/smaps_rollup").splitlines()
        return sum(int(line.split()[1]) * 1024 for line in lines if line.startswith(f"{field}:"))


@pytest.fixture(scope="module")
def image() -> dict[str, str]:
    built = built_image()
    if built is None:
        pytest.fail("run `make test-container` (it builds the image first)")
    return built


@pytest.fixture(scope="module")
def container(image: dict[str, str], tmp_path_factory) -> Iterator[Deployed]:
    running = Deployed(image, tmp_path_factory.mktemp("container") / "run.log")
    try:
        started = time.monotonic()
        running.start()
        print(f"ready {time.monotonic() - started:.1f} s after `{image['ENGINE']} run`")
        yield running
    finally:
        running.stop()


def test_the_image_is_small_enough_to_pull_on_every_scale_up(container: Deployed) -> None:
    size = int(container.run("image", "inspect", "--format", "{{.Size}}", container.image))
    print(f"image size {size / 1e9:.2f} GB")
    assert size <= MAX_IMAGE_BYTES


def test_the_api_docs_example_gets_the_documented_answer(container: Deployed, example_answer):
    example, answer = example_answer
    response = requests.post(f"{container.url}/credit_score_prediction", json=example, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == answer


def test_probes_and_metrics(container: Deployed) -> None:
    assert requests.get(f"{container.url}/livez", timeout=5).status_code == 200
    metrics = requests.get(f"{container.url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "bentoml_service_request_total" in metrics.text


def test_every_process_runs_as_the_deployments_non_root_user(container: Deployed) -> None:
    uids = container.exec("sh", "-c", "grep -h '^Uid:' /proc/[0-9]*/status").splitlines()
    expected = DEPLOYMENT["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert uids
    assert {int(line.split()[1]) for line in uids} == {expected}


def test_memory_after_load_fits_the_deployments_limit(container: Deployed, example_answer):
    example, _ = example_answer
    for _ in range(200):
        requests.post(f"{container.url}/credit_score_prediction", json=example, timeout=30)
    rss, pss = container.memory_bytes("Rss"), container.memory_bytes("Pss")
    limit = CONTAINER["resources"]["limits"]["memory"]
    print(f"after 200 requests: RSS {rss / MEBIBYTE:.0f} MiB, PSS {pss / MEBIBYTE:.0f} MiB")
    limit_bytes = int(limit[:-2]) * BINARY_SUFFIXES[limit[-2:]]
    assert pss < limit_bytes * 0.8  # headroom for growth


def test_sigterm_stops_it_cleanly_within_the_grace_period(container: Deployed) -> None:
    started = time.monotonic()
    container.run("kill", "--signal", "TERM", container.name)
    exit_code = container.run("wait", container.name, timeout_s=STOP_TIMEOUT_S).strip()
    took = time.monotonic() - started
    print(f"stopped {took:.1f} s after SIGTERM, exit code {exit_code}")
    assert took < STOP_TIMEOUT_S
    assert exit_code == "0"
