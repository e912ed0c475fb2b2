"""Drive a server with wrk, posting the 1000 dataset rows round-robin as documented bodies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from training_export import dataset

# Sent with every request; our servers under benchmark require it (the peers ignore it).
API_KEY = "bench-key"
# Printed by the Lua `done` hook: requests, duration (µs), errors, p50/p99 latency (µs).
RESULT = re.compile(r"^RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)$", re.M)

LUA_TEMPLATE = """
local bodies = {%s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "%s"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "%s", nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%f %%f\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class LoadResult:
    clients: int
    requests: int
    seconds: float
    errors: int  # connect/read/write errors, timeouts and non-2xx answers
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return (self.requests - self.errors) / self.seconds


def applicants() -> list[dict]:
    """Every dataset row, as a request body's applicant."""
    return dataset.load().drop(columns="Risk").to_dict("records")


def write_script(path: Path, target: str = "/credit_score_prediction", batch: int = 0) -> Path:
    """A wrk Lua script posting every dataset row in turn as a request body to `target`;
    with `batch`, the rows in batch bodies of that many (`{"applicants": [...]}`)."""
    records = applicants()
    if batch:
        records = [{"applicants": records[i : i + batch]} for i in range(0, len(records), batch)]
    bodies = ",".join(f"[[{json.dumps(r)}]]" for r in records)
    path.write_text(LUA_TEMPLATE % (bodies, API_KEY, target))
    return path


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed (Debian package 'wrk'; `make bench` installs it)")
    return found


def run_wrk(url: str, script: Path, clients: int, seconds: int) -> LoadResult:
    threads = min(clients, 2)
    out = subprocess.run(
        [wrk_binary(), f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(script), url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    match = RESULT.search(out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    requests, duration_us, *errors, p50, p99 = match.groups()
    return LoadResult(
        clients=clients,
        requests=int(requests),
        seconds=int(duration_us) / 1e6,
        errors=sum(map(int, errors)),
        p50_ms=float(p50) / 1000,
        p99_ms=float(p99) / 1000,
    )
