-- The Strategies API's documented PUT /api/v0/user/{user}/purchase/{id}/update with the
-- curl example's small free-form outputs, on pre-created purchases picked at random.
-- Usage: wrk -s strategies.lua URL -- TOKEN IDS_FILE
local ids = {}
local headers

function init(args)
  for line in io.lines(args[2]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  headers = {
    ["Authorization"] = "Bearer " .. args[1],
    ["Content-Type"] = "application/json",
  }
  math.randomseed(os.time() + #ids)
end

function request()
  local id = ids[math.random(#ids)]
  local body = string.format(
    '{ "outputs": { "result": "ok", "detail": { "score": 0.%02d } } }', math.random(0, 99))
  return wrk.format("PUT", "/api/v0/user/example_user/purchase/" .. id .. "/update",
    headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
