--[[
  Files a record under one state of its kind's admin index (and under no other). Indexes
  span conversations, so they live in a slot of their own and are written after the
  record's own script; a record is the truth, an index only finds it (the admin list
  re-reads each record, and the maintenance job repairs and trims indexes).

  A new record is also pointed at its conversation in the same call (its id → conversation
  pointer lives in the indexes' slot).

  KEYS[1…] every state index of the kind
  KEYS[last] with ARGV[4]: the record's pointer
  ARGV[1] record id
  ARGV[2] which KEYS entry to file it under (1-based)
  ARGV[3] score (ms: createdAt for pending, finishedAt otherwise)
  ARGV[4] optional: the pointer's value (`channel\nphone`)
  ARGV[5] with ARGV[4]: the pointer's time to live (ms)
  Returns 1
]]
local target = tonumber(ARGV[2])
local states = #KEYS
if ARGV[4] then
  states = #KEYS - 1
  redis.call('SET', KEYS[#KEYS], ARGV[4], 'PX', ARGV[5])
end
for i = 1, states do
  if i ~= target then redis.call('ZREM', KEYS[i], ARGV[1]) end
end
redis.call('ZADD', KEYS[target], ARGV[3], ARGV[1])
return 1
