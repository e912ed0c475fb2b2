"""The benchmark's peers, started as `make bench` starts them, answer as our server does.

A peer that fails or scores another model would make every ratio in reports/benchmark.md
meaningless: LitServe's parity test, turned on the benchmark itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from benchmarks import serving as bench

ROWS = 40  # every peer, and ours, scores the same first rows of the dataset


def answers(url: str, route: str, records: list[dict]) -> list[dict]:
    with requests.Session() as session:
        responses = [session.post(f"{url}{route}", json=r, timeout=30) for r in records[:ROWS]]
    assert [r.status_code for r in responses] == [200] * ROWS, responses[0].text
    return [r.json() for r in responses]


def reasons(answer: dict) -> tuple[list[str], list[float]]:
    """The reasons' codes and their gains, in order."""
    ranked = answer.get("reasons") or []
    return [r["code"] for r in ranked], [r["gain"] for r in ranked]


@pytest.mark.parametrize(
    "target", ["baseline", "fastapi peer", "fastapi peer+reasons", "litserve peer"]
)
def test_each_peer_answers_as_ours(
    target: str, server: str, records: list[dict], tmp_path: Path
) -> None:
    route = bench.ROUTES[target]
    ours = answers(server, route, records)
    with bench.server(target, tmp_path / "peer.log") as peer:
        theirs = answers(peer.url, route, records)
    assert_same(ours, theirs)


def test_the_peer_answers_batches_with_reasons_as_ours(
    server: str, records: list[dict], tmp_path: Path
) -> None:
    target = "fastapi peer, batches of 100+reasons"
    route, body = bench.ROUTES[target], {"applicants": records[:ROWS]}
    ours = requests.post(f"{server}{route}", json=body, timeout=30).json()["predictions"]
    with bench.server(target, tmp_path / "peer.log") as peer:
        theirs = requests.post(f"{peer.url}{route}", json=body, timeout=30).json()["predictions"]
    assert len(ours) == ROWS
    assert_same(ours, theirs)


def assert_same(ours: list[dict], theirs: list[dict]) -> None:
    for mine, its in zip(ours, theirs, strict=True):
        assert its.keys() == mine.keys()
        assert its["prediction"] == mine["prediction"]
        assert its["probability"] == pytest.approx(mine["probability"], abs=1e-6)
        (their_texts, their_sizes), (my_texts, my_sizes) = reasons(its), reasons(mine)
        assert their_texts == my_texts
        assert their_sizes == pytest.approx(my_sizes, abs=1e-5)
