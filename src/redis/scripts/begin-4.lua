--[[
  Synchronous path, first call of a message: claims the messageId (or reports the first
  answer) and joins the conversation's FIFO lock, taking it when nobody is ahead.

  KEYS[1] lock queue          (list of tokens; head = holder)
  KEYS[2] lock leases         (hash token -> lease deadline, ms)
  KEYS[3] conversation        (hash)
  KEYS[4] message record      (string: the first answer, or the in-progress marker)
  ARGV[1] lock token
  ARGV[2] lease ms
  ARGV[3] in-progress marker ttl ms
  ARGV[4] in-progress marker value
  Returns {'in_progress'} | {'duplicate', record} | {'acquired', conversation fields…} | {'queued'}
]]
--- @include "now-ms"
--- @include "take-turn"
local existing = redis.call('GET', KEYS[4])
if existing then
  if existing == ARGV[4] then return {'in_progress'} end
  return {'duplicate', existing}
end
redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[3])
if takeTurn(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), nowMs()) then
  return {'acquired', redis.call('HGETALL', KEYS[3])}
end
return {'queued'}
