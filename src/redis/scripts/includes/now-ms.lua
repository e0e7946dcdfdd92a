--[[
  Redis' own clock in milliseconds: every process compares lease deadlines against the
  same clock, whatever its own says.
]]
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
