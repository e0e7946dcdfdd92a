--[[
  A LID or a BSUID was just seen with a phone (SPEC §11): it is now an alias of the phone's
  customer. Records the alias, and carries over what the alias's own conversation had (a
  customer known only by a LID until now): the phone's customer keeps its Toolzz conversation
  when it has one, else continues the alias's; a human period running on the alias's
  conversation is kept when the phone's has none running.

  KEYS[1] the phone customer's conversation
  KEYS[2] the phone customer's alias set
  ARGV[1] JSON {aliases [address], aliasTtlMs, source {field: value} (the alias's conversation, may be empty), conversationTtlMs}
  Returns 1 when state was carried over, else 0
]]
--- @include "now-ms"
local spec = cjson.decode(ARGV[1])
for _, address in ipairs(spec.aliases) do redis.call('SADD', KEYS[2], address) end
redis.call('PEXPIRE', KEYS[2], spec.aliasTtlMs)

local source = spec.source
if not source or (not source.state and not source.conversationId) then return 0 end
local now = nowMs()
local function running(state, humanUntil)
  if state ~= 'human' and state ~= 'handoff_pending' then return false end
  local untilMs = tonumber(humanUntil or '')
  return untilMs == nil or untilMs > now
end

local carried = 0
local target = redis.call('HMGET', KEYS[1], 'conversationId', 'state', 'humanUntil')
if (not target[1] or target[1] == '') and source.conversationId and source.conversationId ~= '' then
  redis.call('HSET', KEYS[1], 'conversationId', source.conversationId, 'botId', source.botId or '')
  carried = 1
end
-- Only a person's period carries over: a handoff's record lives with the alias's conversation.
if running(source.state, source.humanUntil) and source.takenBy == 'phone' and not running(target[2], target[3]) then
  redis.call('HSET', KEYS[1], 'state', 'human', 'takenBy', 'phone', 'handoffId', '', 'humanUntil', source.humanUntil or '')
  redis.call('HINCRBY', KEYS[1], 'phoneGen', 1)
  carried = 1
end
if carried == 1 then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < spec.conversationTtlMs then redis.call('PEXPIRE', KEYS[1], spec.conversationTtlMs) end
end
return carried
