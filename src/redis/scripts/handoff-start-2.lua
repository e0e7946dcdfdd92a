--[[
  Counts one try of a handoff and tells the worker where it and its conversation stand.

  KEYS[1] handoff record
  KEYS[2] conversation
  ARGV[1] now (ISO)
  Returns {'missing'} (not committed yet, or never) | {'done' | 'failed', lastError} |
          {'pending', attempts, side-effect claim ('' = none), conversation state, conversation handoffId,
           transcript (JSON array of lines, '' = none: SPEC §13)}
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'pending' then return {state, redis.call('HGET', KEYS[1], 'lastError') or ''} end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'lastAttemptAt', ARGV[1])
local conversation = redis.call('HMGET', KEYS[2], 'state', 'handoffId')
local record = redis.call('HMGET', KEYS[1], 'sideEffect', 'transcript')
return {'pending', tostring(attempts), record[1] or '', conversation[1] or '', conversation[2] or '', record[2] or ''}
