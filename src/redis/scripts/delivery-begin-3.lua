--[[
  Starts one try of the delivery at the head of a customer's outbox: counts it and marks a
  send to this customer as in flight (so an echo that arrives before the send call returned
  its id is not taken for a person answering from the phone, SPEC §9.3).

  KEYS[1] outbox
  KEYS[2] delivery record
  KEYS[3] send-in-flight marker
  ARGV[1] delivery id (read from the outbox head)
  ARGV[2] marker ttl ms (longer than a send can take)
  Returns {'gone'} (no longer the head) | {'ended', state} (already sent or failed: popped) |
          {'ok', record fields…}
]]
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return {'gone'} end
local state = redis.call('HGET', KEYS[2], 'state')
if state ~= 'pending' then
  redis.call('LPOP', KEYS[1])
  return {'ended', state or 'missing'}
end
redis.call('HINCRBY', KEYS[2], 'attempts', 1)
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
local out = {'ok'}
for _, v in ipairs(redis.call('HGETALL', KEYS[2])) do out[#out + 1] = v end
return out
