-- The trade API's documented PATCH /api/v1/trades/{tradeId} on pre-created trades picked
-- at random: headers tenantId/userId/countryCode, a Bearer token and the document's
-- 12-field body (quantity and total vary per request).
-- Usage: wrk -s trades.lua URL -- TOKEN IDS_FILE
local ids = {}
local headers

function init(args)
  for line in io.lines(args[2]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  headers = {
    ["Authorization"] = "Bearer " .. args[1],
    ["Content-Type"] = "application/json",
    ["tenantId"] = "TEN123",
    ["userId"] = "USR456",
    ["countryCode"] = "US",
  }
  math.randomseed(os.time() + #ids)
end

local body = '{"productId": "newProd123", "description": "Updated quality crude oil", '
  .. '"quantity": %d, "indicativeUnitPrice": 55, "totalAmount": %d, '
  .. '"productUnitType": "Barrels", "docLinks": [{"name": "Updated Contract", '
  .. '"link": "http://example.com/updated-contract.pdf"}], '
  .. '"labellingRequirement": "Updated Hazardous Material", '
  .. '"packagingRequirement": "Updated Reinforced Steel Drums", '
  .. '"userId": "USR456", "tenantId": "TEN123", "countryCode": "US"}'

function request()
  local id = ids[math.random(#ids)]
  local quantity = math.random(1, 100000)
  return wrk.format("PATCH", "/api/v1/trades/" .. id, headers,
    string.format(body, quantity, quantity * 55))
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
