--[[
  HSET of a decoded JSON object {field: string value}; nothing when it is empty.
]]
local function hsetMap(key, map)
  local args = {}
  for field, value in pairs(map) do
    args[#args + 1] = field
    args[#args + 1] = tostring(value)
  end
  if #args > 0 then redis.call('HSET', key, unpack(args)) end
end
