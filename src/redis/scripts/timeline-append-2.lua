--[[
  Adds events to a conversation's timeline (SPEC §14): the list keeps its last ARGV[1]
  events and lives as long as the conversation (ARGV[2] ms when the conversation has no
  expiry, or is gone).

  KEYS[1] timeline      (list of JSON events, oldest first)
  KEYS[2] conversation
  ARGV[1] most events kept
  ARGV[2] ttl ms without a conversation expiry
  ARGV[3…] events (JSON)
]]
redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
local ttl = redis.call('PTTL', KEYS[2])
redis.call('PEXPIRE', KEYS[1], ttl > 0 and ttl or tonumber(ARGV[2]))
return 1
