"""A fleet on this machine: replicas of the service's image behind a load balancer, sharing
one PostgreSQL (`make fleet`; tests/fleet/ test it).

- Each replica is a pod of `podman kube play`, from deploy/kubernetes/deployment.yaml as it
  is (the records URL from the Secret `credit-scoring-records`, a podman secret here), but
  on the host network at a port of its own, one manifest per replica (podman 4.3 of Debian
  12 publishes a Deployment's containerPort on the host for each of its pods, and a bridged
  pod cannot reach a server on the host's 127.0.0.1), with a /tmp volume of its own per
  pod. Podman runs no probes without systemd: HAProxy's health checks stand in for them.
  Nor does it run `lifecycle.preStop` (a preStop hook that writes a file never ran on
  `podman pod stop`, which sent SIGTERM at once): `stop_replica` does the kubelet's part.
- HAProxy from Debian (deploy/fleet/haproxy.cfg) balances over four ports, health-checking
  `/readyz` as the readiness probe does: the replicas, and the new pods of a rolling update.
- PostgreSQL from Debian (tools/postgres.py), durable: fsync on.

A rolling update starts a new pod on a free port, waits until HAProxy sees it ready, then
drains the old one (the runtime API: no new requests), waits the preStop sleep and stops it
with SIGTERM and the grace period, as a Deployment with `maxSurge: 1, maxUnavailable: 0`.
"""

from __future__ import annotations

import argparse
import base64
import copy
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import requests
import yaml

from tools.container import built_image
from tools.postgres import PostgresCluster
from tools.server_process import free_port
from training_export.paths import REPO_ROOT

# deploy/kubernetes/deployment.yaml, its pod template and its one container.
DEPLOYMENT = yaml.safe_load((REPO_ROOT / "deploy" / "kubernetes" / "deployment.yaml").read_text())
POD = DEPLOYMENT["spec"]["template"]["spec"]
(CONTAINER,) = POD["containers"]
HAPROXY_CONFIG = REPO_ROOT / "deploy" / "fleet" / "haproxy.cfg"
SLOTS = 4  # the load balancer's server lines r1..r4
BACKEND = "replicas"
# Every role, for the fleet's operator; `make fleet` prints it.
API_KEY = "fleet-operator-key"
READY_TIMEOUT_S = 120  # a replica's start on a busy machine (~10 s when idle)


class FleetError(RuntimeError):
    """A part of the fleet did not start or do what was asked; the message says which."""


def _podman(*args: str, timeout_s: float = 120) -> str:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout_s, env=_podman_env()
    )
    if done.returncode:
        raise FleetError(f"podman {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


def _podman_env() -> dict[str, str]:
    return {"CONTAINERS_CONF": str(REPO_ROOT / "scripts" / "containers.conf"), **os.environ}


def replica_manifest(image: str, name: str, port: int, env: Mapping[str, str]) -> dict[str, Any]:
    """The Deployment of deploy/kubernetes/ as one pod of `podman kube play`: `image`, on
    the host network at 127.0.0.1:`port`, more `env`."""
    deployment = copy.deepcopy(DEPLOYMENT)
    deployment["metadata"]["name"] = name
    deployment["spec"]["replicas"] = 1
    pod = deployment["spec"]["template"]["spec"]
    pod["hostNetwork"] = True
    (container,) = pod["containers"]
    container["image"] = image
    container.pop("ports")  # host network: the process's own port
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        container[probe]["httpGet"]["port"] = port
    settings = {
        "BENTOML_HOST": "127.0.0.1",
        "BENTOML_PORT": str(port),
        "CREDIT_RISK_API_KEYS": json.dumps([API_KEY]),
        **env,
    }
    container["env"] = [e for e in container["env"] if e["name"] not in settings] + [
        {"name": k, "value": v} for k, v in settings.items()
    ]
    # podman names an emptyDir's volume by the manifest's name: one per pod, not shared.
    (volume,) = pod["volumes"]
    (mount,) = container["volumeMounts"]
    volume["name"] = mount["name"] = f"{name}-tmp"
    return deployment


def _secret(name: str, key: str, value: str) -> None:
    """A podman secret that `secretKeyRef` reads: flat JSON of base64 values."""
    data = json.dumps({key: base64.b64encode(value.encode()).decode()})
    subprocess.run(["podman", "secret", "rm", name], capture_output=True, env=_podman_env())
    subprocess.run(
        ["podman", "secret", "create", name, "-"],
        input=data,
        text=True,
        capture_output=True,
        check=True,
        env=_podman_env(),
    )


class Fleet:
    """`replicas` pods of `image`, HAProxy on 127.0.0.1:`port`, one PostgreSQL; all
    stopped and removed on exit."""

    def __init__(
        self, image: str, replicas: int = 2, port: int | None = None, env: Mapping[str, str] = {}
    ) -> None:
        if not 1 <= replicas <= SLOTS // 2:
            raise FleetError(f"1 to {SLOTS // 2} replicas (a rolling update needs as many ports)")
        if shutil.which("haproxy") is None:
            raise FleetError("no haproxy: `make fleet` installs Debian's (apt-get install haproxy)")
        self.image, self.replicas, self.env = image, replicas, dict(env)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ports = [free_port() for _ in range(SLOTS)]
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-"))
        self.database = PostgresCluster(durable=True)
        self.running: dict[int, str] = {}  # slot -> pod name
        self._haproxy: subprocess.Popen[bytes] | None = None
        self._generation = 0

    def __enter__(self) -> Self:
        try:
            self.database.__enter__()
            self.records_url = self.database.url()
            (ref,) = [
                e["valueFrom"]["secretKeyRef"]
                for e in CONTAINER["env"]
                if e["name"] == "CREDIT_RISK_RECORDS_URL"
            ]
            _secret(ref["name"], ref["key"], self.records_url)
            self._start_haproxy()
            for slot in range(self.replicas, SLOTS):  # no pod there: out of the balancing
                self.haproxy(f"set server {BACKEND}/r{slot + 1} state maint")
            for slot in range(self.replicas):
                self.start_replica(slot, wait=False)
            for slot in range(self.replicas):
                self.wait_serving(slot)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        for slot in list(self.running):
            self._remove(slot)
        if self._haproxy is not None:
            self._haproxy.terminate()
            self._haproxy.wait(10)
        self.database.__exit__()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _start_haproxy(self) -> None:
        env = {
            **os.environ,
            "FLEET_DIR": str(self.dir),
            "FLEET_PORT": str(self.port),
            **{f"FLEET_PORT_{i + 1}": str(p) for i, p in enumerate(self.ports)},
        }
        log = (self.dir / "haproxy.log").open("wb")
        self._haproxy = subprocess.Popen(
            ["haproxy", "-db", "-f", str(HAPROXY_CONFIG)], env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 10
        while not (self.dir / "haproxy.sock").exists():
            if self._haproxy.poll() is not None or time.monotonic() > deadline:
                raise FleetError(f"haproxy did not start: {(self.dir / 'haproxy.log').read_text()}")
            time.sleep(0.05)

    def haproxy(self, command: str) -> str:
        """A command of HAProxy's runtime API; its answer."""
        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(str(self.dir / "haproxy.sock"))
            connection.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_states(self) -> dict[int, str]:
        """Per slot, HAProxy's view of its server: UP, DOWN, DRAIN, MAINT, ..."""
        rows = csv.DictReader(io.StringIO(self.haproxy("show stat").lstrip("# ")))
        return {
            int(row["svname"][1:]) - 1: row["status"]
            for row in rows
            if row["pxname"] == BACKEND and row["svname"].startswith("r")
        }

    def start_replica(self, slot: int, env: Mapping[str, str] = {}, wait: bool = True) -> None:
        """A pod on the slot's port (with `env` besides the fleet's); with `wait`, until
        the load balancer sends it requests."""
        if slot in self.running:
            raise FleetError(f"slot {slot + 1} already runs {self.running[slot]}")
        self._generation += 1
        name = f"credit-fleet-{self.port}-{self._generation}"
        manifest = replica_manifest(self.image, name, self.ports[slot], {**self.env, **env})
        path = self.dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest))
        _podman("kube", "play", str(path))
        self.running[slot] = f"{name}-pod-0"
        self.haproxy(f"set server {BACKEND}/r{slot + 1} state ready")  # once its checks pass
        if wait:
            self.wait_serving(slot)

    def wait_serving(self, slot: int) -> float:
        """Seconds until HAProxy's health check finds the slot's replica ready."""
        started = time.monotonic()
        while self.server_states().get(slot) != "UP":
            if time.monotonic() - started > READY_TIMEOUT_S:
                logs = _podman("logs", "--tail", "30", self.container(slot))
                raise FleetError(f"replica {self.running[slot]} not ready: {logs}")
            time.sleep(0.2)
        return time.monotonic() - started

    def container(self, slot: int) -> str:
        return f"{self.running[slot]}-credit-scoring"

    def kill_replica(self, slot: int) -> None:
        """SIGKILL the slot's replica: a crash or a lost node."""
        _podman("kill", "--signal", "KILL", self.container(slot))

    def stop_replica(self, slot: int) -> None:
        """As Kubernetes ends a pod: out of the load balancer, the preStop sleep, then
        SIGTERM, SIGKILL after the grace period."""
        self.haproxy(f"set server {BACKEND}/r{slot + 1} state drain")
        time.sleep(CONTAINER["lifecycle"]["preStop"]["sleep"]["seconds"])
        grace = str(POD["terminationGracePeriodSeconds"])
        _podman("pod", "stop", "--time", grace, self.running[slot])
        self._remove(slot)
        self.haproxy(f"set server {BACKEND}/r{slot + 1} state maint")

    def replace_replica(self, slot: int) -> None:
        """A killed replica's pod removed and a new one started in its place (what the
        Deployment's controller does), without waiting for it."""
        self._remove(slot)
        self.start_replica(slot, wait=False)

    def _remove(self, slot: int) -> None:
        subprocess.run(
            ["podman", "pod", "rm", "--force", self.running.pop(slot)],
            capture_output=True,
            env=_podman_env(),
        )

    def rolling_update(self, env: Mapping[str, str] = {}) -> None:
        """Every replica replaced, one at a time, by a pod with `env`: the new one ready
        first, then the old one stopped."""
        for old in sorted(self.running):
            new = next(slot for slot in range(SLOTS) if slot not in self.running)
            self.start_replica(new, env)
            self.stop_replica(old)

    def restart_database(self, down_s: float) -> None:
        """PostgreSQL stopped for `down_s` seconds, then started again."""
        self.database.stop()
        time.sleep(down_s)
        self.database.start()


def main() -> None:
    parser = argparse.ArgumentParser(description="make fleet: replicas, HAProxy, PostgreSQL")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=3100)
    args = parser.parse_args()
    image = built_image()
    if image is None or image["ENGINE"] != "podman":
        raise SystemExit("no podman image: `make container` builds one")
    with Fleet(image["IMAGE"], args.replicas, args.port) as fleet:
        print(
            f"{fleet.replicas} replicas of {fleet.image} behind {fleet.url} (HAProxy), records "
            f"in {fleet.records_url}; API key {API_KEY!r}. Ctrl-C stops the fleet.",
            flush=True,
        )
        requests.get(f"{fleet.url}/readyz", timeout=5).raise_for_status()
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        signal.sigwait(stop)


if __name__ == "__main__":
    main()
