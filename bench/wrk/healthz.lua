-- GET /healthz on a keep-alive connection: no database, no authentication. At one
-- connection its latency is the HTTP path's own; a wait (Nagle's algorithm meeting a
-- delayed ACK: 40 ms) shows here first.
-- Usage: wrk -s healthz.lua URL -- TOKEN IDS_FILE (both ignored)
function request()
  return wrk.format("GET", "/healthz")
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
