"""The documentation pages in a real headless Chromium, against a real `bentoml serve`:
Swagger UI's "Try it out" works, and no page asks anything of another host."""

from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait


def requests_sent(browser: WebDriver) -> dict[str, bool]:
    """The URLs the page asked for since the log was last read, each with whether it left
    the browser (False: the page's content security policy blocked it)."""
    urls, blocked = {}, set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason") == "csp":
            blocked.add(params["requestId"])
    return {url: request_id not in blocked for request_id, url in urls.items()}


@pytest.mark.parametrize(
    "operation_id", ["credit_score_prediction", "batch_credit_score_prediction"]
)
def test_swagger_try_it_out_executes_with_the_documented_example(
    browser: WebDriver, server: str, operation_id: str
) -> None:
    browser.get(server + "/docs")
    wait = WebDriverWait(browser, 30)
    block_id = f"operations-Credit_scoring-{operation_id}"
    block = wait.until(lambda b: b.find_element(By.ID, block_id))
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda b: block.find_element(By.CSS_SELECTOR, ".try-out__btn")).click()
    wait.until(lambda b: block.find_element(By.CSS_SELECTOR, ".execute")).click()
    status = wait.until(
        lambda b: block.find_element(
            By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status"
        )
    )
    assert status.text.strip().startswith("200"), status.text
    body = block.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
    assert '"prediction"' in body


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_documentation_pages_request_nothing_from_other_hosts(
    browser: WebDriver, server: str, page: str
) -> None:
    requests_sent(browser)  # forget earlier pages
    browser.get(server + page)
    WebDriverWait(browser, 30).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock, .api-content")
    )
    sent = requests_sent(browser)
    assert sent.get(server + "/openapi.json"), sent
    local = (server, f"blob:{server}", "data:")
    foreign = [u for u, left in sent.items() if left and not u.startswith(local)]
    assert not foreign, foreign
