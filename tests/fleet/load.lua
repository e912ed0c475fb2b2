-- wrk: clients posting one applicant each time with an X-Request-ID of their own; each
-- thread writes the ids answered 200 to a file, and done() prints the other answers (and
-- how many of them were 503 with a Retry-After).
-- wrk -s load.lua URL -- RUN_ID OUT_DIR BODY_FILE API_KEY
local threads = {}

function setup(thread)
  thread:set("number", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = string.format("%s-%d-", args[1], number)
  answered = io.open(string.format("%s/ok-%d.txt", args[2], number), "w")
  local file = io.open(args[3])
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-Key"] = args[4]
  sent, failed, retry_later = 0, 0, 0
end

function request()
  sent = sent + 1
  wrk.headers["X-Request-ID"] = prefix .. sent
  return wrk.format()
end

function response(status, headers, body)
  if status == 200 then
    answered:write(headers["x-request-id"] or headers["X-Request-ID"], "\n")
    answered:flush()
  else
    failed = failed + 1
    if status == 503 and (headers["retry-after"] or headers["Retry-After"]) then
      retry_later = retry_later + 1
    end
  end
end

function done(summary, latency, requests)
  local failed_total, retry_later_total = 0, 0
  for _, thread in ipairs(threads) do
    failed_total = failed_total + thread:get("failed")
    retry_later_total = retry_later_total + thread:get("retry_later")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d non200=%d retry503=%d connect=%d read=%d write=%d timeout=%d "
    .. "p99_ms=%.1f\n",
    summary.requests, failed_total, retry_later_total, e.connect, e.read, e.write, e.timeout,
    latency:percentile(99) / 1000))
end
