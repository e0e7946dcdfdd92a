--[[
  The fence: true only while `token` is the head of the conversation's FIFO AND its lease
  has not run out. A holder that stalled past its lease has lost the lock even if nobody
  took it yet, so a late write from it is refused rather than racing the next holder.
]]
local function holdsLock(queueKey, leasesKey, token, now)
  if redis.call('LINDEX', queueKey, 0) ~= token then return false end
  local deadline = tonumber(redis.call('HGET', leasesKey, token) or '0')
  return deadline >= now
end
