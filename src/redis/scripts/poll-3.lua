--[[
  Waits for the conversation's turn: renews our place (re-queuing at the tail if our lease
  ran out while we waited) and takes the lock when we reach the head.

  KEYS[1] lock queue
  KEYS[2] lock leases
  KEYS[3] conversation
  ARGV[1] lock token
  ARGV[2] lease ms
  Returns {'acquired', conversation fields…} | {'queued'}
]]
--- @include "now-ms"
--- @include "take-turn"
if takeTurn(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), nowMs()) then
  return {'acquired', redis.call('HGETALL', KEYS[3])}
end
return {'queued'}
