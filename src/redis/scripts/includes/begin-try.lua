--[[
  Starts one try of a delivery that is at the head of its customer's outbox and pending:
  - takes the customer's send lease (one try at a time per customer, whoever runs it: the
    inbox drain sending the reply it just wrote, or the outbox worker), for as long as the
    delivery's sends may take (`lease.perPartMs` per part, plus `lease.marginMs`);
  - counts the try;
  - writes each text part still to send in the sent ledger under its fingerprint, so that
    its echo is known as ours by its text before the send call returns an id, or if it never
    does. A part whose echo was already seen (an earlier try ended ambiguously, but the text
    arrived) is counted, not written: it is not sent again.
  Returns how many leading parts still to send were already seen.
]]
local function beginTry(deliveryKey, ledgerKey, leaseKey, id, lease, ledgerTtlMs)
  local fingerprints = {}
  for fingerprint in string.gmatch(redis.call('HGET', deliveryKey, 'fingerprints') or '', '[^,]+') do
    fingerprints[#fingerprints + 1] = fingerprint
  end
  redis.call('SET', leaseKey, lease.token, 'PX', math.max(1, #fingerprints) * lease.perPartMs + lease.marginMs)
  redis.call('HINCRBY', deliveryKey, 'attempts', 1)
  local seen = 0
  local leading = true
  local first = tonumber(redis.call('HGET', deliveryKey, 'partsSent') or '0') or 0
  for i, fingerprint in ipairs(fingerprints) do
    local part = i - 1
    if part >= first then
      local ref = id .. ':' .. part .. ':'
      if redis.call('HGET', ledgerKey, fingerprint) == ref .. 's' then
        if leading then seen = seen + 1 end
      else
        leading = false
        redis.call('HSET', ledgerKey, fingerprint, ref .. 'p')
      end
    end
  end
  if #fingerprints > 0 then redis.call('PEXPIRE', ledgerKey, ledgerTtlMs) end
  return seen
end
