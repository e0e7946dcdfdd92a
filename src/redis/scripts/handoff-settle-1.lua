--[[
  The try that holds the side-effect claim is over (its request answered, failed or timed
  out): the claim becomes settled — "may have applied" for good — so the next try may take
  it over once it has checked the platform.

  KEYS[1] handoff record
  ARGV[1] holder
  Returns 1 when settled, 0 when the claim was not this holder's
]]
local current = redis.call('HGET', KEYS[1], 'sideEffect') or ''
if string.sub(current, -(#ARGV[1] + 1)) ~= ':' .. ARGV[1] or string.sub(current, 1, 5) ~= 'held:' then return 0 end
redis.call('HSET', KEYS[1], 'sideEffect', 'settled:' .. ARGV[1])
return 1
