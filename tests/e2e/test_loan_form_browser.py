"""The loan officer's form at /ui in a real headless Chromium, against a real `bentoml serve`.

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them): without them the
tests fail instead of skipping. States a healthy server does not produce on demand (reason
codes, 401, 5xx, no network) are shown by replacing the page's `fetch` with a stub.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from credit_risk.contract import CATEGORIES, EXAMPLE, FIELDS
from serving.http.routes import UI
from tools.server_process import ServerProcess, bentoml_serve, free_port
from training_export.paths import REPO_ROOT

# Where the form posts: its scores are what-ifs, recorded as such, deciding nothing.
PREDICT = "/credit_score_prediction?reasons=true&what_if=true"
SCREENSHOT_COPY = REPO_ROOT / "build" / "ui-screenshot.png"  # build/ is git-ignored
# Every field differs from the prefilled example, so every control is exercised.
APPLICANT = {
    "Age": 52,
    "Sex": "female",
    "Job": "highly skilled",
    "Housing": "own",
    "Saving accounts": "little",
    "Checking account": "moderate",
    "Credit amount": 2500.5,
    "Duration": 12,
    "Purpose": "car",
}


def open_form(browser: WebDriver, server: str) -> None:
    browser.get(server + UI)
    assert browser.find_element(By.ID, "output").get_attribute("data-state") == "idle"


def fill(browser: WebDriver, applicant: dict) -> None:
    for name, value in applicant.items():
        control = browser.find_element(By.NAME, name)
        if control.tag_name == "select":
            Select(control).select_by_value(value)
        else:
            control.clear()
            control.send_keys(str(value))


def submit(browser: WebDriver) -> str:
    """Submit the form and wait for the answer; the state shown ("result" or "error")."""
    browser.find_element(By.ID, "submit").click()
    output = browser.find_element(By.ID, "output")
    WebDriverWait(browser, 30).until(
        lambda _: output.get_attribute("data-state") in ("result", "error")
    )
    return output.get_attribute("data-state")


def texts(browser: WebDriver, selector: str) -> list[str]:
    return [element.text for element in browser.find_elements(By.CSS_SELECTOR, selector)]


def test_every_documented_field_has_a_control_with_the_contracts_choices(
    browser: WebDriver, server: str
) -> None:
    open_form(browser, server)
    assert len(browser.find_elements(By.CSS_SELECTOR, "[data-field]")) == len(FIELDS)
    for name in FIELDS:
        control = browser.find_element(By.NAME, name)
        label = browser.find_element(By.CSS_SELECTOR, f'label[for="{control.get_attribute("id")}"]')
        assert label.text == name
        if name in CATEGORIES:
            select = Select(control)
            assert [o.get_attribute("value") for o in select.options] == list(CATEGORIES[name])
            assert select.first_selected_option.get_attribute("value") == EXAMPLE[name]
        else:
            assert control.get_attribute("type") == "number"
            assert float(control.get_attribute("value")) == EXAMPLE[name]


def test_a_submitted_applicant_shows_the_apis_answer(
    browser: WebDriver, server: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert all(APPLICANT[name] != EXAMPLE[name] for name in FIELDS)
    open_form(browser, server)
    fill(browser, APPLICANT)
    assert submit(browser) == "result", browser.find_element(By.ID, "message").text
    answer = requests.post(server + PREDICT, json=APPLICANT, timeout=30).json()
    assert browser.find_element(By.ID, "decision").text == answer["prediction"]
    shown = browser.find_element(By.ID, "probability").text
    assert shown.endswith(" %")
    # Batches round P(good) differently in the 8th decimal: compare at the shown precision.
    assert float(shown.removesuffix(" %")) == pytest.approx(100 * answer["probability"], abs=0.051)
    assert browser.find_element(By.ID, "model").text == answer["model"]
    assert not browser.find_element(By.ID, "message").is_displayed()
    assert "decides nothing" in browser.find_element(By.ID, "what-if-note").text
    items = texts(browser, "#principal-reasons li")
    shown_reasons = [item.rsplit(" (", 1)[0] for item in items]
    assert shown_reasons == [f"{r['code']}: {r['text']}" for r in answer["reasons"]] or ["none"]
    assert answer["reasons"], "the test applicant should have principal reasons"

    screenshot = tmp_path / "ui-screenshot.png"
    assert browser.save_screenshot(str(screenshot))
    SCREENSHOT_COPY.parent.mkdir(exist_ok=True)
    shutil.copyfile(screenshot, SCREENSHOT_COPY)
    with capsys.disabled():
        print(f"\nscreenshot of the scored form: {screenshot} (copy: {SCREENSHOT_COPY})")


def test_invalid_values_are_reported_next_to_their_fields(browser: WebDriver, server: str) -> None:
    open_form(browser, server)
    fill(browser, {"Age": 0, "Duration": ""})
    assert submit(browser) == "error"
    assert texts(browser, "#message-list li") == [
        "Age: must be greater than or equal to 18",
        "Duration: a value is required",
    ]
    age, duration = browser.find_element(By.NAME, "Age"), browser.find_element(By.NAME, "Duration")
    assert age.get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "error-age").text == "must be greater than or equal to 18"
    assert duration.get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.NAME, "Sex").get_attribute("aria-invalid") is None
    assert not browser.find_element(By.ID, "result").is_displayed()

    fill(browser, {"Age": 40, "Duration": 24})  # corrected: the errors go away
    assert submit(browser) == "result"
    assert age.get_attribute("aria-invalid") is None
    assert browser.find_element(By.ID, "error-age").text == ""


def stub_fetch(browser: WebDriver, status: int | None, body: object) -> None:
    """Replace the page's fetch: answer `status` with `body`, or fail as a network error
    (status None); the request it got is kept in window.sentRequest."""
    browser.execute_script(
        """
        const [status, body] = arguments;
        window.fetch = async (url, init) => {
          window.sentRequest = {url, headers: init.headers, body: init.body};
          if (status === null) throw new TypeError("Failed to fetch");
          return new Response(JSON.stringify(body), {
            status, headers: {"Content-Type": "application/json", "X-Request-ID": "req-42"},
          });
        };
        """,
        status,
        body,
    )


def test_reasons_are_listed_and_the_api_key_is_sent(browser: WebDriver, server: str) -> None:
    open_form(browser, server)
    reason = {"field": "Checking account", "value": "little", "baseline": "rich"}
    answer = {
        "prediction": "bad",
        "probability": 0.61234,
        "probability_bad": 0.38766,
        "model": "credit_risk:test",
        "reasons": [
            {
                **reason,
                "code": "CHK-LOW",
                "gain": 0.42,
                "text": "Low balance in the checking account",
            },
            {
                "field": "Duration",
                "value": 48,
                "baseline": 6,
                "code": "DUR-LONG",
                "gain": 0.171,
                "text": "Duration of the credit is long for the amount",
            },
        ],
    }
    stub_fetch(browser, 200, answer)
    browser.find_element(By.ID, "api-key").send_keys("officer-key")
    assert submit(browser) == "result"
    assert texts(browser, "#principal-reasons li") == [
        "CHK-LOW: Low balance in the checking account (+0.42)",
        "DUR-LONG: Duration of the credit is long for the amount (+0.17)",
    ]
    assert browser.find_element(By.ID, "probability").text == "61.2 %"
    sent = browser.execute_script("return window.sentRequest")
    assert sent["url"] == PREDICT
    assert sent["headers"]["X-API-Key"] == "officer-key"
    assert json.loads(sent["body"]) == EXAMPLE  # the untouched form is the documented example


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "The service requires an API key"),
        (429, "The service is busy"),
        (500, "The service could not score this applicant (error 500)"),
        (503, "The service could not score this applicant (error 503)"),
        (None, "The scoring service could not be reached"),
    ],
)
def test_server_and_network_errors_are_readable(
    browser: WebDriver, server: str, status: int | None, expected: str
) -> None:
    open_form(browser, server)
    stub_fetch(browser, status, {"error": "a valid X-API-Key header is required"})
    assert submit(browser) == "error"
    assert browser.find_element(By.ID, "message-text").text.startswith(expected)
    if status is not None:  # the request id, for support
        assert texts(browser, "#message-list li") == ["Reference: req-42"]
    assert not browser.find_element(By.ID, "result").is_displayed()


OFFICER = {"name": "officer-ann", "key": "officer-key", "roles": ["score", "review", "audit"]}


@pytest.fixture(scope="module")
def reviewed(stored_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with a loan officer's key and records of its own: its queue is the test's."""
    port, folder = free_port(), tmp_path_factory.mktemp("reviewed")
    env = {
        "CREDIT_RISK_API_KEYS": json.dumps([OFFICER]),
        "CREDIT_RISK_RECORDS_URL": f"sqlite:///{folder / 'decisions.db'}",
    }
    command = bentoml_serve("service:CreditScoring", port)
    with ServerProcess(command, port, folder / "serve.log", env=env) as server:
        yield server.url


def test_an_officer_takes_the_queued_decisions_from_the_page(
    browser: WebDriver, reviewed: str, dataset
) -> None:
    keyed = {"X-API-Key": OFFICER["key"]}
    applicants = dataset[list(FIELDS)].head(30).to_dict("records")
    requests.post(  # scored by the origination system: some are referred
        reviewed + "/credit_score_prediction/batch",
        json={"applicants": applicants},
        headers={**keyed, "X-Request-ID": "ui-case"},
        timeout=30,
    ).raise_for_status()
    waiting = requests.get(reviewed + "/reviews?limit=100", headers=keyed, timeout=10).json()
    assert len(waiting["reviews"]) > 2
    open_form(browser, reviewed)
    browser.find_element(By.ID, "load-queue").click()  # no key yet: told to enter one
    queue = browser.find_element(By.ID, "queue")
    WebDriverWait(browser, 30).until(lambda _: queue.get_attribute("data-state") == "error")
    assert "API key" in browser.find_element(By.ID, "queue-message").text
    browser.find_element(By.ID, "api-key").send_keys(OFFICER["key"])
    browser.find_element(By.ID, "load-queue").click()
    WebDriverWait(browser, 30).until(lambda _: queue.get_attribute("data-state") == "loaded")
    items = browser.find_elements(By.CSS_SELECTOR, "#queue-items .queued")
    assert len(items) == min(20, len(waiting["reviews"]))  # one page
    first, second = waiting["reviews"][:2]
    assert items[0].find_element(By.CSS_SELECTOR, ".queued-id").text == (
        f"ui-case #{first['position']}"
    )
    assert f"model recommends {first['recommendation']}" in items[0].text
    assert f"{100 * first['p_good']:.1f} %" in items[0].text
    # The model's recommendation, taken as it is.
    items[0].find_element(By.CSS_SELECTOR, ".review-submit").click()
    outcome = items[0].find_element(By.CSS_SELECTOR, ".queued-outcome")
    WebDriverWait(browser, 30).until(lambda _: items[0].get_attribute("data-state"))
    assert outcome.text == f"{first['recommendation']} by officer-ann"
    # An override without its reason is refused and said so; with one, recorded.
    flip = "decline" if second["recommendation"] == "approve" else "approve"
    Select(items[1].find_element(By.CSS_SELECTOR, ".review-decision")).select_by_value(flip)
    items[1].find_element(By.CSS_SELECTOR, ".review-submit").click()
    WebDriverWait(browser, 30).until(lambda _: items[1].get_attribute("data-state"))
    assert items[1].get_attribute("data-state") == "refused"
    assert "override_reason" in items[1].find_element(By.CSS_SELECTOR, ".queued-outcome").text
    reason = Select(items[1].find_element(By.CSS_SELECTOR, ".review-reason"))
    reason.select_by_value("verified_income")
    items[1].find_element(By.CSS_SELECTOR, ".review-note").send_keys("payslips seen")
    items[1].find_element(By.CSS_SELECTOR, ".review-submit").click()
    WebDriverWait(browser, 30).until(lambda _: items[1].get_attribute("data-state") == "decided")
    records = requests.get(reviewed + "/decisions/ui-case", headers=keyed, timeout=10).json()
    taken = records[second["position"]]
    assert (taken["final_decision"], taken["override_reason"], taken["review_note"]) == (
        flip,
        "verified_income",
        "payslips seen",
    )
    assert taken["reviewed_by"] == "officer-ann"
    assert records[first["position"]]["final_decision"] == first["recommendation"]
    # A what-if score of the form never joins the queue.
    assert submit(browser) == "result"
    after = requests.get(reviewed + "/reviews?limit=100", headers=keyed, timeout=10).json()
    assert len(after["reviews"]) == len(waiting["reviews"]) - 2
