// The loan officer's form (serving/http/loan_form.py renders the fields from the contract):
// collect the rendered controls, POST them as JSON to the API, show the answer or the errors.
"use strict";
(() => {
  const form = document.getElementById("applicant");
  const output = document.getElementById("output");
  const submitButton = document.getElementById("submit");
  const byId = (id) => document.getElementById(id);

  // Empty inputs are left out: the API then names the field as required.
  function applicant() {
    const record = {};
    for (const control of form.querySelectorAll("[data-field]")) {
      if (control.value.trim() === "") continue;
      record[control.name] = control.type === "number" ? Number(control.value) : control.value;
    }
    return record;
  }

  // Pydantic's messages, in the officer's words ("Input should be greater than 0").
  function plainWords(message) {
    if (message === "Field required") return "a value is required";
    if (message === "Extra inputs are not permitted") return "is not a field of this form";
    return message.replace(/^Input should be /, "must be ");
  }

  function setState(state) {
    output.dataset.state = state;
    submitButton.disabled = state === "pending";
    form.setAttribute("aria-busy", String(state === "pending"));
  }

  function clear() {
    byId("message").hidden = true;
    byId("result").hidden = true;
    byId("message-list").replaceChildren();
    for (const control of form.querySelectorAll("[data-field]")) {
      control.removeAttribute("aria-invalid");
      control.parentElement.querySelector(".field-error").textContent = "";
    }
  }

  function listItem(text) {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }

  function showMessage(text, lines = []) {
    byId("message-text").textContent = text;
    byId("message-list").replaceChildren(...lines.map(listItem));
    byId("message").hidden = false;
    setState("error");
  }

  // A 422: each entry of `detail` next to its field, and all of them in the message.
  function showInvalid(detail) {
    const lines = detail.map((error) => {
      const field = Array.isArray(error.loc) && error.loc.length ? String(error.loc[0]) : "";
      const text = plainWords(String(error.msg || "is invalid"));
      const control = field ? form.elements.namedItem(field) : null;
      if (control && control.dataset && "field" in control.dataset) {
        control.setAttribute("aria-invalid", "true");
        control.parentElement.querySelector(".field-error").textContent = text;
      }
      return field ? `${field}: ${text}` : text;
    });
    showMessage("The applicant could not be scored. Please correct:", lines);
  }

  function failure(status, answer) {
    if (status === 401) {
      return "The service requires an API key: enter a valid key under \u201cAPI key\u201d and submit again.";
    }
    if (status === 429) return "The service is busy. Wait a moment and submit again.";
    if (status === 504) return "The service took too long to answer. Submit again in a moment.";
    if (status >= 500) {
      return `The service could not score this applicant (error ${status}). Try again; if it keeps failing, contact support.`;
    }
    const reason = answer && typeof answer.error === "string" ? `: ${answer.error}` : ".";
    return `The service refused the request (error ${status})${reason}`;
  }

  const signed = (value) => (value > 0 ? "+" : "") + value.toFixed(2);

  function showReasons(list, reasons) {
    const items = (reasons || []).map(
      (reason) => listItem(`${reason.code}: ${reason.text} (${signed(Number(reason.gain))})`),
    );
    list.replaceChildren(...(items.length ? items : [listItem("none")]));
  }

  function showResult(answer) {
    byId("decision").textContent = answer.prediction;
    byId("result").dataset.decision = answer.prediction;
    byId("probability").textContent = `${(answer.probability * 100).toFixed(1)} %`;
    byId("model").textContent = answer.model;
    const reasons = answer.reasons;
    byId("reasons").hidden = !reasons;
    if (reasons) showReasons(byId("principal-reasons"), reasons);
    byId("result").hidden = false;
    setState("result");
  }

  async function submit(event) {
    event.preventDefault();
    clear();
    setState("pending");
    const headers = { "Content-Type": "application/json" };
    const key = byId("api-key").value;
    if (key) headers["X-API-Key"] = key;
    let response;
    try {
      response = await fetch(form.dataset.api, {
        method: "POST", headers, body: JSON.stringify(applicant()),
      });
    } catch {
      showMessage("The scoring service could not be reached. Check the network connection and try again.");
      return;
    }
    const answer = await response.json().catch(() => null);
    if (response.ok && answer) {
      showResult(answer);
    } else if (response.status === 422 && answer && Array.isArray(answer.detail)) {
      showInvalid(answer.detail);
    } else {
      const requestId = response.headers.get("X-Request-ID");
      showMessage(failure(response.status, answer), requestId ? [`Reference: ${requestId}`] : []);
    }
  }

  form.addEventListener("submit", submit);

  // The review queue: GET /reviews a page at a time; each decision taken with
  // POST /decisions/{request_id}/review, in the name of the API key typed above.
  const queue = byId("queue");
  let after = null;

  function keyHeaders() {
    const headers = { "Content-Type": "application/json" };
    const key = byId("api-key").value;
    if (key) headers["X-API-Key"] = key;
    return headers;
  }

  function queueMessage(text) {
    byId("queue-message").textContent = text;
    byId("queue-message").hidden = !text;
  }

  function refusal(status, answer) {
    if (status === 401) return "Enter an API key with the role \u201creview\u201d under \u201cAPI key\u201d.";
    return failure(status, answer);
  }

  function queuedItem(record) {
    const item = byId("queue-item").content.firstElementChild.cloneNode(true);
    item.dataset.requestId = record.request_id;
    item.dataset.position = String(record.position);
    item.querySelector(".queued-id").textContent = `${record.request_id} #${record.position}`;
    item.querySelector(".queued-p").textContent =
      `P(good) ${(record.p_good * 100).toFixed(1)} %`;
    item.querySelector(".queued-recommendation").textContent =
      `model recommends ${record.recommendation}`;
    item.querySelector(".queued-applicant").textContent = Object.entries(record.applicant)
      .map(([field, value]) => `${field}: ${value}`).join("; ");
    const reasons = record.reasons ? record.reasons.reasons : null;
    if (reasons) showReasons(item.querySelector(".queued-reasons"), reasons);
    item.querySelector(".review-decision").value = record.recommendation;
    item.querySelector(".review-submit").addEventListener("click", () => decide(item));
    return item;
  }

  async function loadQueue(more) {
    queueMessage("");
    if (!more) {
      after = null;
      byId("queue-items").replaceChildren();
    }
    queue.dataset.state = "pending";
    const url = `${queue.dataset.reviews}?limit=20` + (after === null ? "" : `&after=${after}`);
    let response;
    try {
      response = await fetch(url, { headers: keyHeaders() });
    } catch {
      queue.dataset.state = "error";
      queueMessage("The service could not be reached.");
      return;
    }
    const answer = await response.json().catch(() => null);
    if (!response.ok || !answer) {
      queue.dataset.state = "error";
      queueMessage(refusal(response.status, answer));
      return;
    }
    byId("queue-items").append(...answer.reviews.map(queuedItem));
    after = answer.next;
    byId("more-queue").hidden = after === null;
    if (!byId("queue-items").children.length) queueMessage("No decision awaits a person.");
    queue.dataset.state = "loaded";
  }

  async function decide(item) {
    const body = {
      position: Number(item.dataset.position),
      decision: item.querySelector(".review-decision").value,
    };
    const reason = item.querySelector(".review-reason").value;
    const note = item.querySelector(".review-note").value.trim();
    if (reason) body.override_reason = reason;
    if (note) body.note = note;
    const url = queue.dataset.review.replace("{request_id}", encodeURIComponent(item.dataset.requestId));
    const outcome = item.querySelector(".queued-outcome");
    let response;
    try {
      response = await fetch(url, { method: "POST", headers: keyHeaders(), body: JSON.stringify(body) });
    } catch {
      item.dataset.state = "refused";
      outcome.textContent = "The service could not be reached.";
      return;
    }
    const answer = await response.json().catch(() => null);
    if (response.ok && answer) {
      item.dataset.state = "decided";
      outcome.textContent = `${answer.final_decision} by ${answer.reviewed_by}`;
    } else {
      item.dataset.state = "refused";
      const detail = answer && typeof answer.error === "string" ? answer.error
        : answer && Array.isArray(answer.detail) ? String(answer.detail[0].msg) : "";
      outcome.textContent = detail || refusal(response.status, answer);
    }
  }

  byId("load-queue").addEventListener("click", () => loadQueue(false));
  byId("more-queue").addEventListener("click", () => loadQueue(true));
})();
