--[[
  Right before a platform request whose repetition would do harm (MeHub's cross-channel
  transfer creates a new chat each time): claims the side effect for one try, for a lease
  longer than the request can take. Only one try holds it at a time — two workers running
  the same job (one lost its job lock in a stall) cannot both transfer — and a try may take
  it over only after the holder settled (or its lease ran out: the worker died) AND only if
  it checked the platform first (it started knowing an earlier try may have applied). The
  mark stays for good, so every later try, and an operator retry, checks first. Re-checks
  the conversation in the same call.

  KEYS[1] handoff record   (field sideEffect: '' | 'held:<deadline ms>:<holder>' | 'settled:<holder>')
  KEYS[2] conversation
  ARGV[1] handoff id
  ARGV[2] holder (the try: its attempt number and a random token)
  ARGV[3] lease ms
  ARGV[4] '1' when this try checked the platform for an earlier application, else '0'
  Returns 'claimed' | 'taken' (another try holds it, or one may have applied and this try did
          not check) | 'ended' (record no longer pending) | 'cancelled' (the conversation no
          longer waits for this handoff)
]]
--- @include "now-ms"
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 'ended' end
local conversation = redis.call('HMGET', KEYS[2], 'state', 'handoffId')
if conversation[2] ~= ARGV[1] or conversation[1] ~= 'handoff_pending' then return 'cancelled' end
local now = nowMs()
local current = redis.call('HGET', KEYS[1], 'sideEffect') or ''
if current ~= '' then
  if ARGV[4] ~= '1' then return 'taken' end
  local deadline = tonumber(string.match(current, '^held:(%d+):'))
  if deadline and deadline >= now then return 'taken' end
end
redis.call('HSET', KEYS[1], 'sideEffect', 'held:' .. (now + tonumber(ARGV[3])) .. ':' .. ARGV[2])
return 'claimed'
