"""Settings whose defaults come from the machine: the API's worker count."""

from __future__ import annotations

import os

import pytest

from serving.settings import Settings, usable_cpus

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", AFFINITY),  # no limit
        ("100000 100000\n", 1),
        ("150000 100000\n", min(AFFINITY, 2)),  # a fraction of a CPU counts as one more
        ("50000 100000\n", 1),  # never zero workers
        (f"{(AFFINITY + 8) * 100000} 100000\n", AFFINITY),  # a limit above the affinity
    ],
)
def test_usable_cpus_is_the_affinity_capped_by_the_cgroup_limit(
    tmp_path, cpu_max: str, expected: int
) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert usable_cpus(path) == expected


def test_without_a_cgroup_limit_file_it_is_the_affinity(tmp_path) -> None:
    assert usable_cpus(tmp_path / "absent") == AFFINITY


def test_api_workers_default_to_the_usable_cpus_and_can_be_set(monkeypatch) -> None:
    monkeypatch.delenv("CREDIT_RISK_API_WORKERS", raising=False)
    assert Settings().api_workers == usable_cpus()
    monkeypatch.setenv("CREDIT_RISK_API_WORKERS", "3")
    assert Settings().api_workers == 3
    monkeypatch.setenv("CREDIT_RISK_API_WORKERS", "0")
    with pytest.raises(ValueError):
        Settings()


def test_api_keys_have_names_and_roles_and_bare_keys_are_named_by_place() -> None:
    keys = Settings(
        api_keys=["first", {"name": "servicing", "key": "k2", "roles": ["outcomes"]}]
    ).api_keys
    assert [(k.name, sorted(k.roles)) for k in keys] == [
        ("key-1", ["audit", "outcomes", "review", "score"]),
        ("servicing", ["outcomes"]),
    ]


SECRET = "s3cret-value"


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ([SECRET, SECRET], "two API keys have the same key"),
        ([{"name": "key-2", "key": SECRET, "roles": ["score"]}, "b"], "the same name"),
        ([{"name": "a b", "key": SECRET, "roles": ["score"]}], "should match pattern"),
        ([{"name": "a", "key": SECRET, "roles": ["admin"]}], "'score', 'review', 'audit' or"),
        ([{"name": "a", "key": SECRET, "roles": []}], "at least 1 item"),
        ([{"name": "a", "key": SECRET, "roles": ["score"], "extra": 1}], "Extra inputs"),
    ],
)
def test_a_bad_keys_setting_is_refused_without_showing_a_key(keys: list, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as refused:
        Settings(api_keys=keys)
    assert SECRET not in str(refused.value)  # the error is logged at start-up
