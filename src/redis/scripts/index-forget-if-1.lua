--[[
  Drops a member of an index only if its score is still the one the caller read: a newer
  filing (an inbox that received a message since) keeps it.

  KEYS[1] index (sorted set)
  ARGV[1] member
  ARGV[2] score the caller read
  Returns 1 when dropped, else 0
]]
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
