--[[
  Renews the lease of a lock we hold. Fails (0) once the lock is lost: another holder took
  it, or our lease ran out during a stall — a lost lock is never silently regained.

  KEYS[1] lock queue
  KEYS[2] lock leases
  ARGV[1] lock token
  ARGV[2] lease ms
  Returns 1 (renewed) | 0 (lost)
]]
--- @include "now-ms"
--- @include "holds-lock"
local now = nowMs()
if not holdsLock(KEYS[1], KEYS[2], ARGV[1], now) then return 0 end
local lease = tonumber(ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], now + lease)
redis.call('PEXPIRE', KEYS[1], lease * 4)
redis.call('PEXPIRE', KEYS[2], lease * 4)
return 1
