-- wrk script for bench/versus_prism.py: POSTs lookups or purchases, each with a fresh id.
-- Usage: wrk -s bench/ppu_load.lua URL -- lookup|purchase RUN_TAG BASE_PATH
-- (BASE_PATH "" for Prism, which ignores the contract's `servers`).
-- Every request carries a new variant 4 UUID (thread number, run tag and a counter, so ids never
-- repeat within a run), in the path and in the body, as a PoS sends them.

local threads = {}
local counter = 0
local kind, tag = "lookup", 0
local base = ""

local TX = '"time":"2026-11-21T10:15:30.123Z","originator":{"institution":{"id":"123456","name":"Test"},'
  .. '"terminalId":"12345678","merchant":{"merchantType":"5411","merchantId":"123456789012345",'
  .. '"merchantName":{"name":"Corner Shop","city":"Cape Town","region":"WC","country":"ZA"}}},'
  .. '"client":{"id":"001","name":"PoS"},"thirdPartyIdentifiers":[],"meter":{"meterId":"01234567897"}'
local AMOUNT = ',"purchaseAmount":{"amount":10000,"currency":"710"}'

function setup(thread)
  thread:set("number", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  kind = args[1] or "lookup"
  tag = tonumber(args[2] or "0")
  base = args[3] or "/prepaidutility/v3"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Basic YmVuY2g6YmVuY2g="
end

local function next_id()
  counter = counter + 1
  return string.format("%08x-%04x-4000-8000-%012x", tag % 0xffffffff, number, counter)
end

function request()
  local id = next_id()
  if kind == "purchase" then
    return wrk.format("POST", base .. "/tokenPurchases/" .. id, nil, '{"id":"' .. id .. '",' .. TX .. AMOUNT .. "}")
  end
  return wrk.format("POST", base .. "/meterLookups/" .. id, nil, '{"id":"' .. id .. '",' .. TX .. "}")
end

local answered = 0
function response(status, headers, body)
  answered = answered + 1
  if status >= 300 and answered < 5 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d max_us=%d non2xx=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, summary.errors.status))
end
