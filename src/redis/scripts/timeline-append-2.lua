--[[
  Adds events to a conversation's timeline (SPEC §14): the list keeps its last ARGV[1]
  events and lives as long as the conversation (ARGV[2] ms when the conversation has no
  expiry, or is gone).

  KEYS[1] timeline      (list of JSON events, oldest first)
  KEYS[2] conversation  (`indexedAt`: when its entry in the console's list was last refreshed)
  ARGV[1] most events kept
  ARGV[2] ttl ms without a conversation expiry
  ARGV[3] now (ms)
  ARGV[4] refresh the list entry at most this often (ms)
  ARGV[5…] events (JSON)
  Returns 1 when the caller is to move the conversation up the console's list, else 0.
]]
redis.call('RPUSH', KEYS[1], unpack(ARGV, 5))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
local ttl = redis.call('PTTL', KEYS[2])
redis.call('PEXPIRE', KEYS[1], ttl > 0 and ttl or tonumber(ARGV[2]))
if ttl <= 0 then return 1 end
local now = tonumber(ARGV[3])
if now - (tonumber(redis.call('HGET', KEYS[2], 'indexedAt') or '0') or 0) < tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[2], 'indexedAt', ARGV[3])
return 1
