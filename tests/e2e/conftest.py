"""Real `bentoml serve`s of the service on free ports, shared by the e2e tests."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from tools.server_process import ServerProcess, bentoml_serve, free_port


@pytest.fixture(scope="session")
def served(stored_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`bentoml serve service:CreditScoring` on 127.0.0.1 (a real server), and its log."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    with ServerProcess(bentoml_serve("service:CreditScoring", port), port, log) as server:
        yield server


@pytest.fixture(scope="session")
def server(served: ServerProcess) -> str:
    """Base URL of the real server."""
    return served.url


def scrape(url: str) -> str:
    """The /metrics text as of now: a worker answers the scrapes within `metrics_max_age_s`
    of its last rendering with that rendering, so a test reading what it just did waits
    that long first."""
    from serving.settings import Settings  # not at import: BENTOML_HOME is set first

    time.sleep(Settings.model_fields["metrics_max_age_s"].default + 0.05)
    response = requests.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return response.text


KEY = "s3cret-key"  # a bare key: named key-1, every role
# A key of the origination system: it may score, and read nothing back.
SCORE_ONLY = {"name": "origination", "key": "origination-key", "roles": ["score"]}
ORIGIN = "https://loans.bank.example"


@pytest.fixture(scope="session")
def restricted(stored_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        "CREDIT_RISK_API_KEYS": json.dumps([KEY, "other-key", SCORE_ONLY]),
        "CREDIT_RISK_CORS_ORIGINS": json.dumps([ORIGIN]),
        "CREDIT_RISK_MAX_CONCURRENCY": "4",
        "CREDIT_RISK_BODY_TIMEOUT_S": "1",
        "CREDIT_RISK_FIGURES_REFRESH_S": "0",  # every scrape refreshes them, in the background
    }
    log = tmp_path_factory.mktemp("restricted") / "serve.log"
    with ServerProcess(bentoml_serve("service:CreditScoring", port), port, log, env=env) as server:
        yield server.url


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--window-size=1000,1500",
)


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """Debian's headless Chromium; its performance log records every request a page makes."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail(
            "the browser tests need Debian's chromium and chromedriver on PATH: "
            "apt-get install -y chromium chromium-driver",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        yield driver
    finally:
        driver.quit()
