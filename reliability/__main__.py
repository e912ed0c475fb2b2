"""`make reliability`: the long checks on real servers; writes reports/reliability.md."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from credit_risk.contract import EXAMPLE
from reliability import attacks, checks
from tools.server_process import ServerProcess, bentoml_serve, free_port
from training_export.paths import REPO_ROOT


def server(logs: Path, name: str, env: dict[str, str] | None = None) -> ServerProcess:
    port = free_port()
    command = bentoml_serve("service:CreditScoring", port)
    return ServerProcess(command, port, logs / f"{name}.log", env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--soak-seconds", type=int, default=300)
    parser.add_argument("--soak-clients", type=int, default=64)
    parser.add_argument("--fuzz-examples", type=int, default=2000)
    args = parser.parse_args()
    rows: list[tuple[str, str, str, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        with server(logs, "fuzz") as s:
            fuzz = checks.fuzz(s.url, args.fuzz_examples)
            generated = [line for line in fuzz.summary.splitlines() if "generated" in line]
            rows.append(
                (
                    "schemathesis fuzzing",
                    "no 5xx, only documented answers",
                    generated[-1].strip() if generated else fuzz.summary,
                    fuzz.passed,
                )
            )
        with server(logs, "soak") as s:
            soak = checks.soak(s, EXAMPLE, args.soak_clients, args.soak_seconds)
            rows.append(
                (
                    f"soak, {args.soak_clients} clients, {soak.seconds:.0f} s",
                    "0 errors, RSS growth <= 10%",
                    f"{soak.requests} requests, {soak.failed} failed, RSS "
                    f"{soak.rss_mb_start:.0f} -> {soak.rss_mb_end:.0f} MB "
                    f"({100 * soak.growth:+.1f}%)",
                    soak.failed == 0 and soak.growth <= 0.10,
                )
            )
        with server(logs, "flood") as s:
            flood = checks.flood_recovery(s, EXAMPLE)
            rows.append(
                (
                    "lone requests after 10 s of 8 clients posting 1000-applicant batches "
                    "with reasons",
                    f"p50 of each kind back within 1.5x {flood.settle_s:.0f} s after; "
                    "RSS of each service within 15% of its start (CPython keeps ~20 MB of "
                    "the API's)",
                    flood.summary(),
                    flood.worst_ratio <= 1.5 and flood.rss_growth <= 0.15,
                )
            )
        with server(logs, "kill") as s:
            kill = checks.kill_runner_under_load(s, EXAMPLE)
            rows.append(
                (
                    "runner killed (-9) under load",
                    "recovers <= 10 s, /readyz honest",
                    f"answering again after {kill.answering_s:.1f} s, /readyz ready after "
                    f"{kill.ready_s:.1f} s; /readyz not ready while down: "
                    f"{kill.not_ready_seen}; {kill.failed} of {kill.requests} requests "
                    f"failed; answers spread {max(kill.answers) - min(kill.answers):.1e}",
                    max(kill.answering_s, kill.ready_s) <= 10
                    and kill.not_ready_seen
                    and max(kill.answers) - min(kill.answers) < 1e-6,
                )
            )
        with server(logs, "stuck", {"CREDIT_RISK_REQUEST_TIMEOUT_S": "2"}) as s:
            stuck = checks.stuck_runner(s, EXAMPLE)
            rows.append(
                (
                    "runner frozen (SIGSTOP), timeout 2 s",
                    "504 in about the timeout, then serving again",
                    f"{stuck.status} after {stuck.seconds:.1f} s; then {stuck.status_after}",
                    stuck.status == 504 and stuck.seconds < 10 and stuck.status_after == 200,
                )
            )
        with server(logs, "edge") as s:
            edge = checks.edge_attacks(s, EXAMPLE)
            rows.append(
                (
                    "hostile clients: a 64 MiB header; "
                    f"{edge.slow_bodies} uploads of a byte every 2 s; 1 MB of records with "
                    "145 unknown fields each; `Content-Length: 99999999999`",
                    "header not read (431 or closed), /livez < 1 s, RSS + < 10 MB; uploads "
                    "408, others served; 422 < 10 kB; 413 < 1 s",
                    f"{edge.header_bytes_accepted / 2**20:.0f} MiB of the header taken, "
                    f"/livez <= {edge.header_livez_max_s:.2f} s, RSS "
                    f"{edge.header_rss_growth_mb:+.1f} MB; uploads {edge.slow_body_statuses}, "
                    f"a normal client meanwhile {edge.normal_statuses}; 422 of "
                    f"{edge.error_body_bytes} B in {edge.error_seconds:.2f} s; "
                    f"{edge.huge_length_status} in {edge.huge_length_seconds:.2f} s",
                    edge.header_bytes_accepted < 16 * 2**20
                    and edge.header_livez_max_s < 1
                    and edge.header_rss_growth_mb < 10
                    and set(edge.slow_body_statuses) == {"408"}
                    and set(edge.normal_statuses) == {"200"}
                    and edge.error_body_bytes < 10_000
                    and edge.huge_length_status == 413
                    and edge.huge_length_seconds < 1,
                )
            )
        database = logs / "attacked.db"
        with server(logs, "attacks", attacks.server_env(database)) as s:
            rows.extend(attacks.run(s.url, database))
        with server(logs, "stop") as s:
            stop = checks.sigterm_under_load(s, EXAMPLE)
            rows.append(
                (
                    "SIGTERM under load",
                    "exit 0 within 30 s, accepted requests answered",
                    f"exit {stop.exit_code} after {stop.stop_s:.1f} s; "
                    f"{stop.in_flight_failed} accepted requests failed",
                    stop.exit_code == 0 and stop.stop_s < 30 and stop.in_flight_failed == 0,
                )
            )
    lines = [
        "# Reliability report",
        "",
        f"`make reliability` on {time.strftime('%Y-%m-%d %H:%M')}, each check on a fresh "
        "`bentoml serve` on this machine; load average over the last 15 minutes at the end: "
        f"{os.getloadavg()[2]:.1f} (timings on a busy machine run long).",
        "",
        "| check | target | measured | met |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {'yes' if ok else '**no**'} |" for a, b, c, ok in rows),
    ]  # fmt: skip
    text = "\n".join(lines) + "\n"
    (REPO_ROOT / "reports").mkdir(exist_ok=True)
    (REPO_ROOT / "reports" / "reliability.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
