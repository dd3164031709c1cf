-- GET /healthz on a keep-alive connection: no database, no authentication. At one
-- connection its latency is the HTTP path's own; a wait (Nagle's algorithm meeting a
-- delayed ACK: 40 ms) shows here first.
-- Usage: wrk -s healthz.lua URL -- TOKEN IDS_FILE (both ignored)
function request()
  return wrk.format("GET", "/healthz")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
