--[[
  Gives `token`'s place in the conversation's FIFO up (held or waiting).
]]
local function leaveQueue(queueKey, leasesKey, token)
  redis.call('LREM', queueKey, 1, token)
  redis.call('HDEL', leasesKey, token)
end
