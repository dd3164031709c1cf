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

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
