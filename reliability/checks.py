"""Each check drives a real server and returns its figures; callers judge them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psutil
import requests

from tools.server_process import ServerProcess

PREDICT = "/credit_score_prediction"
BATCH = "/credit_score_prediction/batch"
RUNNER_MARK = "--service-name credit_risk_model"


@dataclass
class Traffic:
    """Closed-loop clients posting one body; every outcome is recorded with its time."""

    url: str
    body: dict
    clients: int
    path: str = PREDICT
    outcomes: list[tuple[float, float, int | str, float | None]] = field(default_factory=list)
    error_bodies: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _client(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = session.post(self.url + self.path, json=self.body, timeout=15)
                status: int | str = response.status_code
                p_good = response.json().get("probability") if status == 200 else None
                if status != 200:
                    self.error_bodies.append(response.text[:2000])
            except requests.RequestException as exc:
                status, p_good = type(exc).__name__, None
                time.sleep(0.05)
            self.outcomes.append((started, time.monotonic(), status, p_good))

    def __enter__(self) -> Traffic:
        for _ in range(self.clients):
            thread = threading.Thread(target=self._client, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=20)

    def failures(self, since: float = 0.0, until: float = float("inf")) -> list:
        return [o for o in self.outcomes if since <= o[0] <= until and o[2] != 200]

    def answers(self) -> set[float]:
        return {o[3] for o in self.outcomes if o[2] == 200}


def runner_processes(server: ServerProcess) -> list[psutil.Process]:
    """Live model-runner processes of the server."""
    found = []
    for process in server.processes():
        try:
            if RUNNER_MARK in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:  # exited or a zombie
            pass
    return found


def service_rss_mb(server: ServerProcess) -> dict[str, float]:
    """Resident memory (MB) of each worker process, by BentoML service name."""
    found = {}
    for process in server.processes():
        try:
            args = process.cmdline()
            if "--service-name" in args:
                name = args[args.index("--service-name") + 1]
                found[name] = found.get(name, 0) + process.memory_info().rss / 2**20
        except psutil.Error:  # exited or a zombie
            pass
    return found


def is_ready(url: str) -> bool:
    try:
        return requests.get(url + "/readyz", timeout=6).status_code == 200
    except requests.RequestException:
        return False


@dataclass(frozen=True)
class KillResult:
    not_ready_seen: bool  # /readyz said so while the runner was down
    answering_s: float  # from the kill until a prediction is answered again
    ready_s: float  # from the kill until /readyz says ready again
    requests: int
    failed: int
    answers: set[float]  # P(good)s for the one body: equal up to float32 rounding
    failure_statuses: set[int | str]
    error_bodies: list[str]


def kill_runner_under_load(
    server: ServerProcess, body: dict, clients: int = 4, timeout_s: float = 40
) -> KillResult:
    """SIGKILL the model runner under load and time the recovery.

    /readyz and the first answer are watched by two loops of their own: a prediction that
    waits for the restarted runner must not hide the seconds in which /readyz says not ready.
    """
    inf = float("inf")
    ready_at: dict[str, float] = {}
    with Traffic(server.url, body, clients) as traffic:
        time.sleep(2)
        (runner,) = runner_processes(server)
        runner.kill()
        killed = time.monotonic()

        def watch_readiness() -> None:
            while time.monotonic() - killed < timeout_s:
                if not is_ready(server.url):
                    ready_at.setdefault("not ready", time.monotonic() - killed)
                elif "not ready" in ready_at:
                    ready_at["ready"] = time.monotonic() - killed
                    return
                time.sleep(0.05)

        watcher = threading.Thread(target=watch_readiness, daemon=True)
        watcher.start()
        answering = inf
        time.sleep(0.5)
        while time.monotonic() - killed < timeout_s and answering == inf:
            try:
                response = requests.post(server.url + PREDICT, json=body, timeout=5)
                if response.status_code == 200:
                    answering = time.monotonic() - killed
            except requests.RequestException:
                pass
            time.sleep(0.1)
        watcher.join(timeout=max(0.0, timeout_s - (time.monotonic() - killed)))
        time.sleep(1)
    return KillResult(
        not_ready_seen="not ready" in ready_at,
        answering_s=answering,
        ready_s=ready_at.get("ready", inf),
        requests=len(traffic.outcomes),
        failed=len(traffic.failures()),
        answers=traffic.answers(),
        failure_statuses={outcome[2] for outcome in traffic.failures()},
        error_bodies=traffic.error_bodies,
    )


@dataclass(frozen=True)
class SoakResult:
    seconds: float
    requests: int
    failed: int
    rss_mb_start: float
    rss_mb_end: float

    @property
    def growth(self) -> float:
        return self.rss_mb_end / self.rss_mb_start - 1


def soak(server: ServerProcess, body: dict, clients: int, seconds: float) -> SoakResult:
    """Constant load; RSS of the whole process tree after a warm-up and at the end."""
    with Traffic(server.url, body, clients) as traffic:
        time.sleep(min(10, seconds / 4))  # warm-up: caches, allocator, batcher statistics
        start_rss, start = server.rss_bytes(), time.monotonic()
        time.sleep(seconds)
        end_rss = server.rss_bytes()
    return SoakResult(
        seconds=time.monotonic() - start,
        requests=len(traffic.outcomes),
        failed=len(traffic.failures()),
        rss_mb_start=start_rss / 2**20,
        rss_mb_end=end_rss / 2**20,
    )


@dataclass(frozen=True)
class StopResult:
    exit_code: int | None
    stop_s: float
    in_flight_failed: int  # requests sent before SIGTERM that did not get an answer


def sigterm_under_load(server: ServerProcess, body: dict, clients: int = 8) -> StopResult:
    """SIGTERM the server under load: it must finish accepted requests and exit cleanly."""
    with Traffic(server.url, body, clients) as traffic:
        time.sleep(2)
        signalled = time.monotonic()
        exit_code = server.stop(timeout_s=30)
        stop_s = time.monotonic() - signalled
    return StopResult(
        exit_code=exit_code,
        stop_s=stop_s,
        in_flight_failed=len(traffic.failures(until=signalled - 0.05)),
    )


# Checks that need state schemathesis cannot know (auth, stored resources) are left out.
FUZZ_EXCLUDED = (
    "ignored_auth,use_after_free,ensure_resource_availability,object_level_authorization"
)


@dataclass(frozen=True)
class FuzzResult:
    passed: bool
    summary: str  # schemathesis' closing lines


def fuzz(
    url: str,
    examples: int,
    seed: int = 1,
    path: str | None = PREDICT,
    headers: dict[str, str] | None = None,
    excluded: tuple[str, ...] = (),
) -> FuzzResult:
    """Property-based fuzzing (positive and negative cases, every check that applies but
    `excluded`) of `path`, or of every operation, from the served OpenAPI document, sending
    `headers`."""
    import subprocess

    from tools.server_process import BIN

    only = ["--include-path", path] if path else []
    only += [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    run = subprocess.run(
        [str(BIN / "schemathesis"), "run", f"{url}/openapi.json", *only,
         "-n", str(examples), "--seed", str(seed), "--checks", "all",
         "--exclude-checks", ",".join((FUZZ_EXCLUDED, *excluded))],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    return FuzzResult(run.returncode == 0, "\n".join(run.stdout.splitlines()[-40:]))


@dataclass(frozen=True)
class StuckResult:
    status: int | str  # the answer while the runner is frozen
    seconds: float  # how long that answer took
    status_after: int  # the answer once the runner runs again


def stuck_runner(server: ServerProcess, body: dict) -> StuckResult:
    """Freeze the runner (SIGSTOP): a request must time out with 504, not hang."""
    (runner,) = runner_processes(server)
    runner.suspend()
    try:
        started = time.monotonic()
        try:
            status: int | str = requests.post(
                server.url + PREDICT, json=body, timeout=60
            ).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        seconds = time.monotonic() - started
    finally:
        runner.resume()
    after = requests.post(server.url + PREDICT, json=body, timeout=60).status_code
    return StuckResult(status, seconds, after)


@dataclass(frozen=True)
class EdgeResult:
    header_bytes_accepted: int  # of a 64 MiB header, sent before the server closed
    header_livez_max_s: float  # slowest /livez answer meanwhile
    header_rss_growth_mb: float
    slow_bodies: int
    slow_body_statuses: dict[str, int]  # what the slow uploads got
    normal_statuses: dict[str, int]  # a normal client's answers meanwhile
    error_body_bytes: int  # the 422 for 1 MB of records with 145 unknown fields each
    error_seconds: float
    huge_length_status: int | str  # Content-Length: 99999999999
    huge_length_seconds: float


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _huge_header(server: ServerProcess) -> tuple[int, float, float]:
    """Send a 64 MiB header while /livez is polled: bytes taken, slowest /livez, RSS growth."""
    rss_start, rss_peak, slowest = server.rss_bytes(), 0, 0.0
    done = threading.Event()

    def watch() -> None:
        nonlocal rss_peak, slowest
        while not done.is_set():
            started = time.monotonic()
            requests.get(server.url + "/livez", timeout=30)
            slowest = max(slowest, time.monotonic() - started)
            rss_peak = max(rss_peak, server.rss_bytes())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    sent = 0
    with _connect(server.url) as sock:
        try:
            sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ")
            while sent < 64 * 2**20:
                sock.sendall(b"x" * 2**20)
                sent += 2**20
            sock.sendall(b"\r\n\r\n")
            sock.recv(100)
        except OSError:  # closed by the server
            pass
    time.sleep(0.5)
    done.set()
    watcher.join()
    return sent, slowest, max(0, rss_peak - rss_start) / 2**20


def _slow_bodies(url: str, body: dict, count: int, seconds: float) -> tuple[Counter, Counter]:
    """`count` uploads that send a byte every 2 s while one client posts normally."""
    head = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    host, port = url.removeprefix("http://").split(":")
    slow: Counter = Counter()

    async def upload() -> None:
        """Count the status the upload got ("none" if it got to the end unanswered)."""
        outcome = "none"
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(head)
            for _ in range(int(seconds / 2) + 1):
                writer.write(b" ")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    answer = await asyncio.wait_for(reader.read(100), 2)
                    outcome = answer.split(b" ")[1].decode() if answer else "closed"
                    break
            writer.close()
        except OSError as error:
            outcome = type(error).__name__
        slow[outcome] += 1

    async def run() -> Counter:
        tasks = [asyncio.create_task(upload()) for _ in range(count)]
        await asyncio.sleep(0.5)
        normal: Counter = Counter()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                response = await asyncio.to_thread(
                    requests.post, url + PREDICT, json=body, timeout=15
                )
                normal[str(response.status_code)] += 1
            except requests.RequestException as error:
                normal[type(error).__name__] += 1
            await asyncio.sleep(0.25)
        await asyncio.gather(*tasks)
        return normal

    normal = asyncio.run(run())
    return slow, normal


def edge_attacks(server: ServerProcess, body: dict, slow_bodies: int = 600) -> EdgeResult:
    """What hostile clients get, and what they cost everyone else: a 64 MiB header,
    hundreds of slow uploads, a batch made to produce errors, an absurd Content-Length."""
    header_bytes, livez_s, rss_mb = _huge_header(server)
    slow, normal = _slow_bodies(server.url, body, slow_bodies, seconds=6)
    junk = {f"unknown_field_{i}": 1 for i in range(145)}
    batch = json.dumps({"applicants": [junk] * 296}).encode()  # just under 1 MB
    started = time.monotonic()
    response = requests.post(server.url + PREDICT + "/batch", data=batch, timeout=30)
    error_seconds = time.monotonic() - started
    started = time.monotonic()
    with _connect(server.url) as sock:
        sock.sendall(
            f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{{".encode()
        )
        answer = sock.recv(100)
    huge_status: int | str = int(answer.split(b" ")[1]) if answer else "closed"
    return EdgeResult(
        header_bytes_accepted=header_bytes,
        header_livez_max_s=livez_s,
        header_rss_growth_mb=rss_mb,
        slow_bodies=slow_bodies,
        slow_body_statuses=dict(slow),
        normal_statuses=dict(normal),
        error_body_bytes=len(response.content),
        error_seconds=error_seconds,
        huge_length_status=huge_status,
        huge_length_seconds=time.monotonic() - started,
    )


# One request of each kind a single client sends: both endpoints, with and without reasons.
PROBES: dict[str, str] = {
    "single": PREDICT,
    "single, reasons": PREDICT + "?reasons=true",
    "batch of 1": BATCH,
    "batch of 1, reasons": BATCH + "?reasons=true",
}


def _probe_once(session: requests.Session, url: str, path: str, body: dict) -> float:
    """Milliseconds of one answered request of the probe kind `path`."""
    payload = {"applicants": [body]} if path.startswith(BATCH) else body
    started = time.perf_counter()
    response = session.post(url + path, json=payload, timeout=15)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def probe_p50s(url: str, body: dict, seconds: float) -> dict[str, float]:
    """Median milliseconds of each probe kind, sent one at a time in turn for `seconds`."""
    times: dict[str, list[float]] = {name: [] for name in PROBES}
    session = requests.Session()
    until = time.monotonic() + seconds
    while time.monotonic() < until or not all(times.values()):
        for name, path in PROBES.items():
            times[name].append(_probe_once(session, url, path, body))
    return {name: statistics.median(values) for name, values in times.items()}


@dataclass(frozen=True)
class FloodResult:
    before: dict[str, float]  # p50 ms of each probe kind before the flood
    recovering: dict[str, float]  # ... during the first `settle_s` after it
    after: dict[str, float]  # ... from `settle_s` after it on
    settle_s: float
    flood_requests: int
    flood_statuses: Counter  # status (or exception name) -> count, during the flood
    rss_mb_before: dict[str, float]  # by service, before the flood
    rss_mb_after: dict[str, float]  # ... after it and the probes, then `idle_s` idle

    @property
    def worst_ratio(self) -> float:
        """The largest after / before ratio over the probe kinds."""
        return max(self.after[name] / self.before[name] for name in self.before)

    @property
    def rss_growth(self) -> float:
        """The largest relative growth of a service's memory over the flood."""
        return max(self.rss_mb_after[n] / self.rss_mb_before[n] - 1 for n in self.rss_mb_before)

    def summary(self) -> str:
        """The p50s of each probe kind, and what the flood got."""
        p50s = "; ".join(
            f"{name} {self.before[name]:.1f} / {self.recovering[name]:.1f} / {self.after[name]:.1f}"
            for name in self.before
        )
        statuses = ", ".join(f"{n} x {s}" for s, n in self.flood_statuses.most_common())
        rss = ", ".join(
            f"{name} {self.rss_mb_before[name]:.0f} -> {self.rss_mb_after.get(name, 0):.0f} MB"
            for name in self.rss_mb_before
        )
        return (
            f"p50 ms before / first {self.settle_s:.0f} s after / then: {p50s} "
            f"(flood: {self.flood_requests} requests: {statuses}); RSS {rss}"
        )


def flood_recovery(
    server: ServerProcess,
    body: dict,
    *,
    clients: int = 8,
    seconds: float = 10,
    records: int = 1000,
    settle_s: float = 5,
    probe_s: float = 5,
    idle_s: float = 3,
) -> FloodResult:
    """Single requests before and after a flood of `records`-applicant batches with reasons,
    and the memory of each service before and after.

    BentoML's adaptive batcher learns its waits from what it sees: after such a flood it
    made lone requests wait ~100 times longer, for minutes. The probes run from the flood's
    end on, the first `settle_s` reported apart; the memory is read `idle_s` after them.
    """
    url = server.url
    probe_p50s(url, body, 1)  # warm-up
    rss_before = service_rss_mb(server)
    before = probe_p50s(url, body, probe_s)
    flood_body = {"applicants": [body] * records}
    with Traffic(url, flood_body, clients, path=BATCH + "?reasons=true") as flood:
        time.sleep(seconds)
    recovering = probe_p50s(url, body, settle_s)
    after = probe_p50s(url, body, probe_s)
    time.sleep(idle_s)
    return FloodResult(
        before=before,
        recovering=recovering,
        after=after,
        settle_s=settle_s,
        flood_requests=len(flood.outcomes),
        flood_statuses=Counter(outcome[2] for outcome in flood.outcomes),
        rss_mb_before=rss_before,
        rss_mb_after=service_rss_mb(server),
    )
