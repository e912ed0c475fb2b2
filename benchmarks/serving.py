"""HTTP benchmark: our Bento against its peers and BentoML's constant-answer ceiling.

The servers run one after the other on this machine (never two at once), each driven by
wrk at several client counts; the whole round is repeated and medians are reported. The
peers: the weak original (baseline), the strongest hand-written one (FastAPI with the whole
model path in process, one uvicorn worker per CPU, uvloop and httptools, with and without
reasons), LitServe with dynamic batching (one worker per CPU); the ceilings: a constant
answer served as ours is, and by stock BentoML. Ours runs as in production: an API key
required (wrk sends one with every request; the peers ignore it), decision records on (and
once off), in source and as the container image. Heavier requests too: batches of 100
applicants with reasons, ours (with one runner process and with two) against the FastAPI
peer, at up to 8 clients. Ratios ours / each of them, and the cost of reason codes. Then
one client's p50 with a shadow challenger against ours, the two servers side by side and
every request sent to both (benchmarks/paired.py). Writes reports/benchmark.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import bentoml

from benchmarks.load import API_KEY, applicants, run_wrk, write_script
from benchmarks.paired import BLOCK, paired
from model_store.versions import MODEL_NAME
from serving.settings import usable_cpus
from tools.container import Container, built_image
from tools.server_process import BIN, ServerProcess, bentoml_serve, free_port
from training_export.paths import REPO_ROOT

REPORTS = REPO_ROOT / "reports"
LOGS = REPO_ROOT / "build" / "bench"  # the servers' logs of the last run
TARGETS = (
    "baseline",
    "fastapi peer",
    "fastapi peer+reasons",
    "litserve peer",
    "ours",
    "ours+reasons",
    "ours, no records",
    "ours, version 002",
    "ours, challenger 002 in shadow",
    "fastapi peer, batches of 100+reasons",
    "ours, batches of 100+reasons",
    "ours, 2 runners, batches of 100+reasons",
    "container",
    "ceiling",
    "stock ceiling",
)
ROUTE = "/credit_score_prediction"
# One client's p50 of the first against the second, measured side by side.
PAIRED = ("ours, challenger 002 in shadow", "ours")
PAIRED_REQUESTS = 3000  # to each: ~30 s at ~5 ms a request
# Heavier requests: batches of this many applicants with reasons, at few clients.
BATCH = 100
BATCH_MAX_CLIENTS = 8
BATCHES = {target for target in TARGETS if ", batches of" in target}
ROUTES = {target: (f"{ROUTE}/batch" if target in BATCHES else ROUTE)
          + ("?reasons=true" if target.endswith("+reasons") else "")
          for target in TARGETS}  # fmt: skip
# Ours as in production: API keys required (every request sends one), records on.
KEYS = {"CREDIT_RISK_API_KEYS": json.dumps([API_KEY])}
ENVS = {
    "ceiling": {"CEILING_TUNED": "1"},  # see benchmarks/constant_service.py
    "ours": KEYS,
    "ours+reasons": KEYS,
    "ours, no records": {**KEYS, "CREDIT_RISK_RECORDS": "false"},
    "ours, version 002": {**KEYS, "CREDIT_RISK_SERVED_MODEL": "002"},  # a config id: env()
    "ours, challenger 002 in shadow": {**KEYS, "CREDIT_RISK_CHALLENGER_MODEL": "002"},
    "ours, batches of 100+reasons": KEYS,
    # The runner's processes, as BentoML configures any service's.
    "ours, 2 runners, batches of 100+reasons": {
        **KEYS,
        "BENTOML_CONFIG_OPTIONS": "services.credit_risk_model.workers=2",
    },
}


def env(target: str) -> dict[str, str] | None:
    """The target's settings; a config id as a version becomes the stored version's tag."""
    settings = ENVS.get(target)
    for name in ("CREDIT_RISK_SERVED_MODEL", "CREDIT_RISK_CHALLENGER_MODEL"):
        if settings and name in settings:
            config_id = settings[name]
            (model,) = [m for m in bentoml.models.list(MODEL_NAME)
                        if m.info.metadata.get("config_id") == config_id]  # fmt: skip
            settings = {**settings, name: str(model.tag)}
    return settings


def server(target: str, log: Path) -> ServerProcess:
    """Each benchmarked server, not yet started."""
    if target == "container":  # its processes are not the engine's children: no CPU, RSS
        image = built_image()
        assert image is not None
        keys = [f"--env={name}={value}" for name, value in KEYS.items()]
        return Container(image["ENGINE"], image["IMAGE"], log, keys)
    port = free_port()
    cmd, ready = command(target, port)
    return ServerProcess(cmd, port, log, env=env(target), ready_path=ready)


def command(target: str, port: int) -> tuple[list[str], str]:
    """Command line and readiness path of each benchmarked server."""
    address = ["--host", "127.0.0.1", "--port", str(port)]
    cpus = str(usable_cpus())
    if target == "baseline":
        app = [str(BIN / "uvicorn"), "benchmarks.baseline_app:app", "--workers", "1"]
        return [*app, *address, "--no-access-log"], "/health"
    if target.startswith("fastapi peer"):
        app = [str(BIN / "uvicorn"), "benchmarks.fastapi_peer:app", "--workers", cpus]
        fast = ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        return [*app, *address, *fast], "/health"
    if target == "litserve peer":
        peer = [str(BIN / "python"), "-m", "benchmarks.litserve_peer"]
        return [*peer, "--port", str(port)], "/health"
    service = (
        "benchmarks.constant_service:ConstantScoring"
        if target.endswith("ceiling")
        else "service:CreditScoring"
    )
    return bentoml_serve(service, port), "/readyz"


def measure(target: str, clients: list[int], seconds: float, logs: Path) -> list[dict]:
    batch = BATCH if target in BATCHES else 0
    script = write_script(logs / f"{target}.lua", ROUTES[target], batch)
    rows = []
    with server(target, logs / f"{target}.log") as running:
        run_wrk(running.url, script, 8, 2)  # warm-up
        for n in clients_of(target, clients):
            cpu, rss = running.cpu_seconds(), running.rss_bytes()
            result = run_wrk(running.url, script, n, seconds)
            rows.append({
                "target": target, **asdict(result), "rps": result.rps,
                "server_cpu_s": running.cpu_seconds() - cpu,
                "rss_mb_before": rss / 2**20, "rss_mb_after": running.rss_bytes() / 2**20,
            })  # fmt: skip
            print(f"{target:20} {n:4} clients: {result.rps:8.0f} req/s  p50 {result.p50_ms:7.2f} ms"
                  f"  p99 {result.p99_ms:7.2f} ms  errors {result.errors}", flush=True)  # fmt: skip
    return rows


def measure_paired(targets: tuple[str, ...], requests: int, logs: Path) -> dict:
    """One client's latency on `targets` running side by side (`benchmarks.paired`)."""
    logs.mkdir(parents=True, exist_ok=True)
    bodies = [json.dumps(r).encode() for r in applicants()]
    with ExitStack() as stack:
        running = [stack.enter_context(server(t, logs / f"{t}.log")) for t in targets]
        result = paired([r.url for r in running], ROUTE, bodies, requests, {"X-API-Key": API_KEY})
    p50 = [result.p50_ms(k) for k in range(len(targets))]
    blocks = result.block_ratios(0, 1)
    print(f"paired, 1 client: {targets[0]} p50 {p50[0]:.2f} ms, {targets[1]} {p50[1]:.2f} ms",
          flush=True)  # fmt: skip
    return {"targets": list(targets), "requests": requests, "p50_ms": p50,
            "ratio": p50[0] / p50[1], "block_ratios": blocks}  # fmt: skip


def paired_report(result: dict) -> list[str]:
    (over, under), (a, b), blocks = result["targets"], result["p50_ms"], result["block_ratios"]
    return [
        "",
        f"One client, side by side: {over} and {under} running at once, each of "
        f"{result['requests']} requests sent to both in turn (which one first alternates). "
        f"p50 {a:.2f} against {b:.2f} ms: **{result['ratio']:.3f}x**, "
        f"{(a - b) * 1e3:.0f} µs; per block of {BLOCK} requests "
        f"{min(blocks):.3f} to {max(blocks):.3f}x. The p50s include the client's own time.",
    ]


def clients_of(target: str, clients: list[int]) -> list[int]:
    return [n for n in clients if n <= BATCH_MAX_CLIENTS] if target in BATCHES else clients


def medians(runs: list[dict]) -> dict[tuple[str, int], dict]:
    keys = ("rps", "p50_ms", "p99_ms", "errors", "server_cpu_s", "rss_mb_before", "rss_mb_after")
    grouped: dict[tuple[str, int], list[dict]] = {}
    for row in runs:
        grouped.setdefault((row["target"], row["clients"]), []).append(row)
    return {
        k: {key: statistics.median(r[key] for r in rows) for key in keys}
        for k, rows in grouped.items()
    }


def report(
    runs: list[dict], clients: list[int], seconds: int, repeats: int, side_by_side: dict | None
) -> str:
    med = medians(runs)
    targets = [t for t in TARGETS if (t, clients[0]) in med]
    lines = [
        "# HTTP benchmark",
        "",
        f"`make bench` on {time.strftime('%Y-%m-%d')}: wrk on the same 2-core machine,",
        f"{seconds} s per point, {repeats} rounds ({', '.join(targets)} back to back, every",
        "other round in reverse order); medians over rounds. Errors: connection errors,",
        "timeouts and non-2xx answers.",
        "",
        "| server | clients | req/s | p50 ms | p99 ms | errors | CPU s | RSS MB before, after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for target in targets:
        for n in clients_of(target, clients):
            m = med[(target, n)]
            cpu = f"{m['server_cpu_s']:.1f}"
            rss = f"{m['rss_mb_before']:.0f}, {m['rss_mb_after']:.0f}"
            if target == "container":
                cpu = rss = "n/a"
            lines.append(
                f"| {target} | {n} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                f"{m['errors']:.0f} | {cpu} | {rss} |"
            )
    pairs = [  # numerator, denominator: those of the measured targets
        ("ours", "fastapi peer"),
        ("ours+reasons", "fastapi peer+reasons"),
        ("ours, batches of 100+reasons", "fastapi peer, batches of 100+reasons"),
        ("ours, 2 runners, batches of 100+reasons", "fastapi peer, batches of 100+reasons"),
        ("ours", "litserve peer"),
        ("ours", "baseline"),
        ("ours", "ceiling"),
        ("ours", "stock ceiling"),
        ("ours+reasons", "ours"),
        ("ours", "ours, no records"),
        ("ours", "ours, version 002"),
        ("ours, challenger 002 in shadow", "ours"),
        ("container", "ours"),
    ]
    ratios = {f"{a} / {b}": (a, b) for a, b in pairs if a in targets and b in targets}
    if ratios:
        lines += [
            "",
            "Throughput ratios (req/s):",
            "",
            f"| clients | {' | '.join(ratios)} |",
            f"|---:|{'---:|' * len(ratios)}",
        ]
    for n in clients if ratios else []:
        cells = [f"{med[(a, n)]['rps'] / med[(b, n)]['rps']:.2f}" if (a, n) in med else "n/a"
                 for a, b in ratios.values()]  # fmt: skip
        lines.append(f"| {n} | {' | '.join(cells)} |")
    if side_by_side is not None:
        lines += paired_report(side_by_side)
    return "\n".join(lines) + "\n"


def chart(runs: list[dict], clients: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    med = medians(runs)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for target in [t for t in TARGETS if (t, clients[0]) in med and t not in BATCHES]:
        left.plot(clients, [med[(target, n)]["rps"] for n in clients], marker="o", label=target)
        right.plot(clients, [med[(target, n)]["p99_ms"] for n in clients], marker="o", label=target)
    for axis, title in ((left, "throughput (req/s)"), (right, "p99 latency (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent clients")
        axis.set_title(title)
        axis.legend()
    right.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # Defaults: 15 servers x up to 3 client counts x 8 s x 2 rounds, about 15 minutes in all.
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    args = parser.parse_args()
    if "container" in args.targets and built_image() is None:
        print("no container image: `make container` first; measuring without it")
        args.targets.remove("container")
    runs: list[dict] = []
    shutil.rmtree(LOGS, ignore_errors=True)
    for round_ in range(1, args.repeats + 1):
        logs = LOGS / f"round-{round_}"  # each server's log and home (its records): kept
        logs.mkdir(parents=True)
        # Every other round in reverse order: a server measured right after another one
        # is slowed by what that one left behind (one client's p50 +24 % in second place,
        # +4 % in first), so a fixed order would bias every ratio.
        order = args.targets if round_ % 2 else args.targets[::-1]
        for target in order:
            runs += measure(target, args.clients, args.seconds, logs)
    side_by_side = (
        measure_paired(PAIRED, PAIRED_REQUESTS, LOGS / "paired")
        if 1 in args.clients and set(PAIRED) <= set(args.targets)
        else None
    )
    REPORTS.mkdir(exist_ok=True)
    text = report(runs, args.clients, args.seconds, args.repeats, side_by_side)
    (REPORTS / "benchmark.md").write_text(text)
    (REPORTS / "benchmark.json").write_text(json.dumps(runs, indent=1) + "\n")
    chart(runs, args.clients, REPORTS / "benchmark.png")
    print(text)


if __name__ == "__main__":
    main()
