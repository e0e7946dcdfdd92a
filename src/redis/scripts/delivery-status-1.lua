--[[
  A delivery status the channel reported after the send (WhatsApp `statuses[]`, SPEC §8.4).
  The record keeps the furthest status reported (sent < delivered < read; notifications may
  arrive out of order); `failed` is final and also fails the delivery — Meta accepted the
  message, then could not deliver it (131047 outside the window, 131026 undeliverable…).

  KEYS[1] delivery record
  ARGV[1] JSON {status, at (ms), lastError ('' unless failed), finishedAt (ISO), failedTtlMs}
  Returns {'missing'} | {'kept'} (not further than what is recorded) | {'status'} (recorded) |
          {'failed', the delivery's state before}
]]
local spec = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local rank = {sent = 1, delivered = 2, read = 3, failed = 4}
local current = redis.call('HGET', KEYS[1], 'status') or ''
if current == 'failed' or (rank[current] or 0) >= rank[spec.status] then return {'kept'} end
redis.call('HSET', KEYS[1], 'status', spec.status, 'statusAt', tostring(spec.at))
if spec.status ~= 'failed' then return {'status'} end
local state = redis.call('HGET', KEYS[1], 'state') or ''
redis.call('HSET', KEYS[1], 'lastError', spec.lastError)
if state ~= 'failed' then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'finishedAt', spec.finishedAt)
  redis.call('PEXPIRE', KEYS[1], spec.failedTtlMs)
end
return {'failed', state}
