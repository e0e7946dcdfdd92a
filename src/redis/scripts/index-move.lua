--[[
  Files a record under one state of its kind's admin index (and under no other). Indexes
  span conversations, so they live in a slot of their own and are written after the
  record's own script; a record is the truth, an index only finds it (the admin list
  re-reads each record, and the maintenance job repairs and trims indexes).

  KEYS[1…] every state index of the kind
  ARGV[1] record id
  ARGV[2] which KEYS entry to file it under (1-based)
  ARGV[3] score (ms: createdAt for pending, finishedAt otherwise)
  Returns 1
]]
local target = tonumber(ARGV[2])
for i = 1, #KEYS do
  if i ~= target then redis.call('ZREM', KEYS[i], ARGV[1]) end
end
redis.call('ZADD', KEYS[target], ARGV[3], ARGV[1])
return 1
