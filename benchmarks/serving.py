"""HTTP benchmark: baseline vs our Bento vs BentoML's constant-answer ceiling, one run.

The servers run one after the other on this machine (never two at once), each driven by
wrk at several client counts; the whole round is repeated and medians are reported, with
the ratios ours/baseline and ours/ceiling (the ceiling served as ours is, and stock BentoML's),
and the cost of reason codes: our Bento again, every request asking for reasons.
Writes reports/benchmark.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.load import run_wrk, write_script
from tools.server_process import BIN, ServerProcess, bentoml_serve, free_port
from training_export.paths import REPO_ROOT

REPORTS = REPO_ROOT / "reports"
TARGETS = ("baseline", "ours", "ours+reasons", "ceiling", "stock ceiling")
ROUTE = "/credit_score_prediction"
ROUTES = {target: ROUTE for target in TARGETS} | {"ours+reasons": f"{ROUTE}?reasons=true"}
ENVS = {"ceiling": {"CEILING_TUNED": "1"}}  # see benchmarks/constant_service.py


def command(target: str, port: int) -> tuple[list[str], str]:
    """Command line and readiness path of each benchmarked server."""
    if target == "baseline":
        uvicorn = [str(BIN / "uvicorn"), "benchmarks.baseline_app:app", "--workers", "1"]
        return [*uvicorn, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"], "/health"
    service = (
        "benchmarks.constant_service:ConstantScoring"
        if target.endswith("ceiling")
        else "service:CreditScoring"
    )
    return bentoml_serve(service, port), "/readyz"


def measure(target: str, clients: list[int], seconds: float, logs: Path) -> list[dict]:
    script = write_script(logs / f"{target}.lua", ROUTES[target])
    port = free_port()
    cmd, ready = command(target, port)
    rows = []
    log = logs / f"{target}.log"
    with ServerProcess(cmd, port, log, env=ENVS.get(target), ready_path=ready) as server:
        run_wrk(server.url, script, 8, 2)  # warm-up
        for n in clients:
            cpu, rss = server.cpu_seconds(), server.rss_bytes()
            result = run_wrk(server.url, script, n, seconds)
            rows.append({
                "target": target, **asdict(result), "rps": result.rps,
                "server_cpu_s": server.cpu_seconds() - cpu,
                "rss_mb_before": rss / 2**20, "rss_mb_after": server.rss_bytes() / 2**20,
            })  # fmt: skip
            print(f"{target:8} {n:4} clients: {result.rps:8.0f} req/s  p50 {result.p50_ms:7.2f} ms"
                  f"  p99 {result.p99_ms:7.2f} ms  errors {result.errors}", flush=True)  # fmt: skip
    return rows


def medians(runs: list[dict]) -> dict[tuple[str, int], dict]:
    keys = ("rps", "p50_ms", "p99_ms", "errors", "server_cpu_s", "rss_mb_before", "rss_mb_after")
    grouped: dict[tuple[str, int], list[dict]] = {}
    for row in runs:
        grouped.setdefault((row["target"], row["clients"]), []).append(row)
    return {
        k: {key: statistics.median(r[key] for r in rows) for key in keys}
        for k, rows in grouped.items()
    }


def report(runs: list[dict], clients: list[int], seconds: int, repeats: int) -> str:
    med = medians(runs)
    lines = [
        "# HTTP benchmark",
        "",
        f"`make bench` on {time.strftime('%Y-%m-%d')}: wrk on the same 2-core machine,",
        f"{seconds} s per point, {repeats} rounds ({', '.join(TARGETS)} back to back);",
        "medians over rounds. Errors: connection errors, timeouts and non-2xx answers.",
        "",
        "| server | clients | req/s | p50 ms | p99 ms | errors | CPU s | RSS MB before, after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for target in TARGETS:
        for n in clients:
            m = med[(target, n)]
            lines.append(
                f"| {target} | {n} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                f"{m['errors']:.0f} | {m['server_cpu_s']:.1f} | "
                f"{m['rss_mb_before']:.0f}, {m['rss_mb_after']:.0f} |"
            )
    lines += [
        "",
        "| clients | ours / baseline | ours / ceiling | ours / stock ceiling "
        "| ours+reasons / ours |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in clients:
        ours = med[("ours", n)]["rps"]
        vs_baseline = ours / med[("baseline", n)]["rps"]
        vs_ceiling = ours / med[("ceiling", n)]["rps"]
        vs_stock = ours / med[("stock ceiling", n)]["rps"]
        reasons = med[("ours+reasons", n)]["rps"] / ours
        lines.append(
            f"| {n} | {vs_baseline:.2f} | {vs_ceiling:.2f} | {vs_stock:.2f} | {reasons:.2f} |"
        )
    return "\n".join(lines) + "\n"


def chart(runs: list[dict], clients: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    med = medians(runs)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for target in TARGETS:
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
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64, 128])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for target in TARGETS:
                runs += measure(target, args.clients, args.seconds, Path(tmp))
    REPORTS.mkdir(exist_ok=True)
    text = report(runs, args.clients, args.seconds, args.repeats)
    (REPORTS / "benchmark.md").write_text(text)
    (REPORTS / "benchmark.json").write_text(json.dumps(runs, indent=1) + "\n")
    chart(runs, args.clients, REPORTS / "benchmark.png")
    print(text)


if __name__ == "__main__":
    main()
