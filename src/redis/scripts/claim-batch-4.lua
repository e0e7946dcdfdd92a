--[[
  Asynchronous channels: takes the customer's turn and the next batch of their inbox.

  A batch is the head entry alone, or — when debouncing and the head is a customer text —
  the run of customer texts from the head, once the customer has been quiet for ARGV[3] ms
  or 5 × ARGV[3] ms passed since the first of them (SPEC §9.1). A batch cut short by a crash
  (`inflight` still set) is the same batch again, its try counted.

  KEYS[1] lock queue
  KEYS[2] lock leases
  KEYS[3] conversation
  KEYS[4] inbox
  ARGV[1] lock token
  ARGV[2] lease ms
  ARGV[3] debounce ms (0 = off)
  ARGV[4] most entries in one batch
  Returns {'busy'} (someone else holds the lock; we wait in its FIFO) |
          {'empty'} (lock released) | {'wait', ready at ms} (lock released) |
          {'batch', tries, #conversation fields, conversation fields…, entries…} (lock held)
]]
--- @include "now-ms"
--- @include "take-turn"
--- @include "leave-queue"
local now = nowMs()
if not takeTurn(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), now) then return {'busy'} end

local function reply(tries, entries)
  local conversation = redis.call('HGETALL', KEYS[3])
  local out = {'batch', tostring(tries), tostring(#conversation)}
  for _, v in ipairs(conversation) do out[#out + 1] = v end
  for _, v in ipairs(entries) do out[#out + 1] = v end
  return out
end

local inflight = tonumber(redis.call('HGET', KEYS[3], 'inflight') or '0')
if inflight > 0 then
  local entries = redis.call('LRANGE', KEYS[4], 0, inflight - 1)
  if #entries > 0 then
    return reply(redis.call('HINCRBY', KEYS[3], 'inflightTries', 1), entries)
  end
  redis.call('HDEL', KEYS[3], 'inflight', 'inflightTries')
end

local entries = redis.call('LRANGE', KEYS[4], 0, tonumber(ARGV[4]) - 1)
if #entries == 0 then
  leaveQueue(KEYS[1], KEYS[2], ARGV[1])
  return {'empty'}
end

-- `k` / `at`: the names an earlier version wrote (an entry may outlive a rolling upgrade).
local function kindOf(entry) return entry.kind or entry.k end
local function acceptedAt(entry) return entry.acceptedAt or entry.at end

local batch = {entries[1]}
local debounce = tonumber(ARGV[3])
local first = cjson.decode(entries[1])
if debounce > 0 and kindOf(first) == 'text' then
  local last = first
  for i = 2, #entries do
    local entry = cjson.decode(entries[i])
    if kindOf(entry) ~= 'text' then break end
    batch[#batch + 1] = entries[i]
    last = entry
  end
  local readyAt = math.min(acceptedAt(last) + debounce, acceptedAt(first) + 5 * debounce)
  -- Entries carry the accepting process's clock and the release job was delayed by it: a
  -- small skew against Redis's clock must not cost another wake-up.
  if readyAt > now + math.min(50, debounce / 10) then
    leaveQueue(KEYS[1], KEYS[2], ARGV[1])
    return {'wait', tostring(readyAt)}
  end
end

redis.call('HSET', KEYS[3], 'inflight', #batch, 'inflightTries', 1)
return reply(1, batch)
