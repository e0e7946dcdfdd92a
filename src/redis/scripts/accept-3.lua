--[[
  Asynchronous channels: stores one accepted message durably and de-duplicates it, before
  the webhook answers. Its entry goes to the tail of the customer's inbox.

  KEYS[1] message record   (string; its existence is the de-duplication, kept ARGV[3] ms)
  KEYS[2] inbox            (list of JSON entries {id, kind, text, acceptedAt, …}, oldest first)
  KEYS[3] conversation     (hash; `inflight` = entries of the batch being processed)
  ARGV[1] entry JSON
  ARGV[2] record value
  ARGV[3] record ttl ms
  ARGV[4] inbox ttl ms
  ARGV[5] when the customer wrote it (epoch ms; '' or absent: not recorded) — WhatsApp's
          24-hour window (SPEC §13) counts from the conversation's `lastInboundAt`, the
          newest such time; a conversation not stored yet is kept as long as the inbox
  Returns {'accepted' | 'duplicate', at of the first held entry ('' when none), '1' when the
  inbox was empty before this message else '0'}. The first held entry is the first one after
  the batch in flight: it starts the debounce window (SPEC §9.1). A message that finds other
  messages waiting needs no drain scheduled: the drain that will take them, or is taking them,
  goes on until the inbox is empty.
]]
local function firstHeldAt()
  local inflight = tonumber(redis.call('HGET', KEYS[3], 'inflight') or '0')
  local entry = redis.call('LINDEX', KEYS[2], inflight)
  if not entry then return '' end
  local decoded = cjson.decode(entry)
  -- `at`: an entry written by an earlier version (rolling upgrade).
  return tostring(decoded.acceptedAt or decoded.at)
end

if redis.call('EXISTS', KEYS[1]) == 1 then return {'duplicate', firstHeldAt(), '0'} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
local wrote = tonumber(ARGV[5] or '')
if wrote and wrote > (tonumber(redis.call('HGET', KEYS[3], 'lastInboundAt') or '0') or 0) then
  redis.call('HSET', KEYS[3], 'lastInboundAt', tostring(wrote))
  if redis.call('PTTL', KEYS[3]) < 0 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
end
local length = redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {'accepted', firstHeldAt(), length == 1 and '1' or '0'}
