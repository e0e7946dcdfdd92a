--[[
  Moves a handoff on to the next leg of its chain (SPEC §12): the leg that is over joins the
  record's past legs, and the record starts the next one afresh — its provider, no tries yet,
  no error, no side-effect claim (the claim was about the leg that is over) — with the job it
  will run (the payload naming the new leg). Only from the leg the caller ran: a second
  worker, or a re-run, finds it moved on and does nothing.
  - failover: the leg failed for good while pending; the conversation keeps waiting.
  - escalate: the leg was done but no human answered in time (`firstResponse.action:
    fallback`): the record is pending again and the conversation, if it is still with the
    human of this handoff, waits for the next leg (`handoff_pending`, the bot quiet).

  KEYS[1] handoff record   (fields `job` JSON with `leg`, `pastLegs` JSON list)
  KEYS[2] conversation
  ARGV[1] JSON {fromLeg, escalate (bool), past {provider, state, attempts, lastError},
                provider, job (JSON text), updatedAt}
  Returns 1 (moved on) | 0 (not in the state it must be in, or no longer on that leg)
]]
local spec = cjson.decode(ARGV[1])
local id = redis.call('HGET', KEYS[1], 'id')
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= (spec.escalate and 'done' or 'pending') then return 0 end
local ok, job = pcall(cjson.decode, redis.call('HGET', KEYS[1], 'job') or '{}')
if not ok or (tonumber(job.leg) or 0) ~= spec.fromLeg then return 0 end
if spec.escalate then
  local conversation = redis.call('HMGET', KEYS[2], 'state', 'handoffId', 'takenBy')
  if conversation[1] ~= 'human' or conversation[2] ~= id or conversation[3] == 'phone' then return 0 end
  redis.call('HSET', KEYS[2], 'state', 'handoff_pending', 'humanUntil', '', 'updatedAt', spec.updatedAt)
  redis.call('HSET', KEYS[1], 'state', 'pending', 'finishedAt', '', 'summary', '')
end
local stored = redis.call('HGET', KEYS[1], 'pastLegs')
local past = {}
if stored and stored ~= '' then past = cjson.decode(stored) end
past[#past + 1] = spec.past
redis.call('HSET', KEYS[1], 'pastLegs', cjson.encode(past), 'provider', spec.provider, 'attempts', '0', 'lastError', '', 'sideEffect', '', 'job', spec.job)
return 1
