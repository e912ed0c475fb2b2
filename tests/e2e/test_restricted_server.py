"""A server configured for production through the environment: keys, origins, small limits."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from credit_risk.contract import EXAMPLE
from tests.e2e.conftest import KEY, ORIGIN, SCORE_ONLY, scrape

PREDICT = "/credit_score_prediction"


def test_api_key_is_required_except_on_probes(restricted: str) -> None:
    assert requests.post(restricted + PREDICT, json=EXAMPLE).status_code == 401
    wrong = requests.post(restricted + PREDICT, json=EXAMPLE, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    assert "Traceback" not in wrong.text
    right = requests.post(restricted + PREDICT, json=EXAMPLE, headers={"X-API-Key": KEY})
    assert right.status_code == 200
    for path in ("/livez", "/readyz", "/health", "/metrics"):
        assert requests.get(restricted + path).status_code == 200, path
    # Drift figures are statistics of applicants' personal data: a key is needed.
    for path in ("/docs", "/drift"):
        assert requests.get(restricted + path).status_code == 401, path
    assert requests.get(restricted + "/drift", headers={"X-API-Key": KEY}).status_code == 200
    # The form's page opens without a key (a browser cannot send one); its calls need one.
    assert requests.get(restricted + "/ui").status_code == 200


def test_a_key_opens_only_the_routes_of_its_roles_and_its_name_is_recorded(
    restricted: str,
) -> None:
    scoring = {"X-API-Key": SCORE_ONLY["key"]}
    scored = requests.post(restricted + PREDICT, json=EXAMPLE, headers=scoring)
    assert scored.status_code == 200
    request_id = scored.headers["X-Request-ID"]
    refused = {
        "/decisions/" + request_id: ("get", "audit"),
        "/fairness": ("get", "audit"),
        "/drift": ("get", "audit"),
        "/outcomes": ("post", "outcomes"),
    }
    for path, (method, role) in refused.items():
        body = {"request_id": request_id, "repaid": True} if method == "post" else None
        answer = requests.request(method, restricted + path, json=body, headers=scoring)
        assert answer.status_code == 403, path
        assert answer.json()["error"].startswith(
            f"the API key 'origination' lacks the role '{role}'"
        )
    (record,) = requests.get(
        restricted + "/decisions/" + request_id, headers={"X-API-Key": KEY}
    ).json()
    assert record["caller"] == "origination"  # its name, never the key or a hash of it


def test_only_the_configured_origin_is_allowed(restricted: str) -> None:
    for origin, allowed in ((ORIGIN, True), ("https://evil.example", False)):
        preflight = requests.options(
            restricted + PREDICT,
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed


def test_a_burst_beyond_the_limit_is_refused_fast_then_service_recovers(restricted: str) -> None:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    def post(_: int) -> int:
        return session.post(
            restricted + PREDICT, json=EXAMPLE, headers={"X-API-Key": KEY}, timeout=10
        ).status_code

    with ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(post, range(640)))
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) > 0, "the limit of 4 was never reached"
    assert statuses.count(200) > 0
    assert post(0) == 200


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=15)


def test_two_api_keys_are_401_whichever_comes_last(restricted: str) -> None:
    body = json.dumps(EXAMPLE).encode()
    for keys in ((KEY, "wrong"), ("wrong", KEY), (KEY, KEY)):
        connection = http.client.HTTPConnection(restricted.removeprefix("http://"), timeout=10)
        connection.putrequest("POST", PREDICT)
        for key in keys:
            connection.putheader("X-API-Key", key)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        assert connection.getresponse().status == 401, keys


def test_large_headers_are_431_and_a_huge_one_is_not_read(restricted: str) -> None:
    padded = {"X-API-Key": KEY, "X-Pad": "x" * 20_000}
    assert requests.post(restricted + PREDICT, json=EXAMPLE, headers=padded).status_code == 431
    sock = _connect(restricted)
    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        while sent < 64 * 2**20:  # the server stops reading long before 64 MiB
            sock.sendall(b"x" * 65536)
            sent += 65536
    except OSError:  # closed by the server: reset, or a broken pipe
        pass
    assert sent < 16 * 2**20
    assert requests.get(restricted + "/livez").status_code == 200


def test_a_declared_body_over_the_limit_is_413_at_once(restricted: str) -> None:
    started = time.monotonic()
    with _connect(restricted) as sock:
        sock.sendall(
            f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n"
            "Content-Length: 99999999999\r\n\r\n{".encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")
    assert time.monotonic() - started < 5  # it waited for the request timeout (10 s) before


def test_compressed_bodies_are_415(restricted: str) -> None:
    headers = {"X-API-Key": KEY, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    compressed = gzip.compress(json.dumps(EXAMPLE).encode())
    response = requests.post(restricted + PREDICT, data=compressed, headers=headers)
    assert response.status_code == 415
    assert "Content-Encoding" in response.json()["error"]


def test_slow_bodies_get_408_and_hold_no_slot_meanwhile(restricted: str) -> None:
    """Twice as many slow uploads as the concurrency limit (4): others are still served."""
    start = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    ).encode()
    slow = [_connect(restricted) for _ in range(8)]
    for sock in slow:
        sock.sendall(start)
    time.sleep(0.3)
    served = requests.post(restricted + PREDICT, json=EXAMPLE, headers={"X-API-Key": KEY})
    assert served.status_code == 200
    for sock in slow:
        with sock:
            assert sock.recv(65536).startswith(b"HTTP/1.1 408")


def test_live_fairness_needs_a_key_and_withholds_small_groups(restricted: str) -> None:
    headers = {"X-API-Key": KEY}
    applicants = [{**EXAMPLE, "Sex": "female", "Age": 30}] * 120
    response = requests.post(
        restricted + PREDICT + "/batch", json={"applicants": applicants}, headers=headers
    )
    assert response.status_code == 200
    assert requests.get(restricted + "/fairness").status_code == 401
    report = requests.get(restricted + "/fairness", headers=headers).json()
    assert report["min_group_size"] == 100
    (version,) = [v for v in report["versions"] if v["decisions"] >= 120]
    shown = {(g["field"], g["group"]): g for g in version["groups"]}
    assert {("Sex", "female"), ("Age", "25-39")} <= set(shown)
    assert all(g["applicants"] >= 100 for g in shown.values())
    named = {f"{field} {group}" for field, group in shown} | set(version["withheld"])
    assert named == {"Sex female", "Sex male", "Age < 25", "Age 25-39", "Age 40-61", "Age 62+"}
    ratios = [g["approval_ratio"] for g in shown.values() if g["field"] == "Sex"]
    assert all(r is None for r in ratios) or max(ratios) == 1.0


def test_paths_anyone_asks_for_add_no_metric_series(restricted: str) -> None:
    """Keyless requests for made-up paths and request ids: /metrics labels each request by
    its route template, so none of them becomes a label and the text does not grow."""
    keyed = {"X-API-Key": KEY}
    requests.get(f"{restricted}/junk-warmup")
    before = scrape(restricted)
    for i in range(50):
        requests.get(f"{restricted}/junk-{i}")
        requests.get(f"{restricted}/decisions/secret-id-{i}", headers=keyed)
    requests.get(f"{restricted}/decisions/%00nul", headers=keyed)
    after = scrape(restricted)
    assert "junk" not in after and "secret-id" not in after and "\x00" not in after
    assert 'endpoint="unmatched"' in after
    assert 'endpoint="/decisions/{request_id}"' in after
    assert len(after) < len(before) + 5000  # not 20 series per path asked for
