-- An agent records the outcome of a call, with its effects on the user's freezes.
-- KEYS: task task_decisions task_log tasks freezes audit relay alerts
-- ARGV: now_ms, task_id, agent, outcome, note, retry_after_ms, max_attempts
local K = {task = KEYS[1], decisions = KEYS[2], log = KEYS[3], archive = KEYS[4],
           freezes = KEYS[5], audit = KEYS[6], relay = KEYS[7], alerts = KEYS[8]}
local now, task_id, agent, outcome, note = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local retry_after, max_attempts = tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('EXISTS', K.task) == 0 then return cjson.encode({ok = false, why = 'closed'}) end
local t = hgetall(K.task)
if t.id ~= task_id then return cjson.encode({ok = false, why = 'closed'}) end
if t.state ~= 'claimed' or t.owner ~= agent then
  return cjson.encode({ok = false, why = 'not_yours', placement = placement(t)})
end

local decision_ids = {}
for i, raw in ipairs(redis.call('LRANGE', K.decisions, 0, -1)) do
  decision_ids[i] = cjson.decode(raw).decision_id
end
local rule_ids = decode_list(t.rule_ids)
local why = 'callback ' .. t.id .. ': ' .. outcome .. ((note ~= '' and (': ' .. note)) or '')
local changed = {}
local version = tonumber(t.version) + 1

if outcome == 'unreachable' then
  local attempts = tonumber(t.attempts) + 1
  if attempts < max_attempts then
    t.state, t.owner, t.attempts, t.retry_at = 'delayed', nil, int(attempts), int(now + retry_after)
    t.version = int(version)
    redis.call('HSET', K.task, 'state', 'delayed', 'attempts', t.attempts, 'retry_at', t.retry_at,
      'version', t.version)
    redis.call('HDEL', K.task, 'owner', 'lease_until')
    log_task(K.log, now, {event = 'unreachable', agent = agent, attempt = attempts, note = note,
      retry_at = now + retry_after})
    local p, w = pending(K.relay, K.audit, K.alerts)
    return cjson.encode({ok = true, outcome = outcome, retry_at = now + retry_after,
      attempts = attempts, placement = placement(t), publish = p})
  end
  t.attempts = int(attempts)
end

local escalated = outcome ~= 'confirmed_legitimate'
if outcome == 'confirmed_legitimate' then
  for _, id in ipairs(decode_list(t.freeze_ids)) do
    local raw = redis.call('HGET', K.freezes, id)
    if raw then
      local f = cjson.decode(raw)
      redis.call('HDEL', K.freezes, id)
      audit(K.audit, K.freezes, now, {action = 'lift', freeze_id = id, scope = f.scope, by = agent,
        reason = why, rule_ids = f.rule_ids, decision_ids = f.decision_ids, task_id = t.id})
      table.insert(changed, id)
    end
  end
elseif outcome == 'confirmed_fraud' then
  local kept = 0
  for _, id in ipairs(decode_list(t.freeze_ids)) do
    local raw = redis.call('HGET', K.freezes, id)
    if raw then
      local f = cjson.decode(raw)
      if freeze_active(f, now) then
        kept = kept + 1
        if num(f.expires_at) then
          f.expires_at = nil
          f.manual = true
          redis.call('HSET', K.freezes, id, cjson.encode(f))
          audit(K.audit, K.freezes, now, {action = 'keep', freeze_id = id, scope = f.scope, by = agent,
            reason = why .. ' (kept until lifted by hand)', rule_ids = f.rule_ids,
            decision_ids = f.decision_ids, task_id = t.id})
          table.insert(changed, id)
        end
      end
    end
  end
  if kept == 0 then  -- confirmed fraud and nothing held: hold withdrawals now
    local id = 'f-' .. t.id .. '-fraud'
    local f = {freeze_id = id, user_id = t.user_id, scope = 'withdrawals', reason = why,
               rule_ids = rule_ids, decision_ids = decision_ids, created_at = now, manual = true,
               by = agent, task_id = t.id}
    redis.call('HSET', K.freezes, id, cjson.encode(f))
    audit(K.audit, K.freezes, now, {action = 'freeze', freeze_id = id, scope = 'withdrawals', by = agent,
      reason = why, rule_ids = rule_ids, decision_ids = decision_ids, task_id = t.id})
    table.insert(changed, id)
  end
end
log_task(K.log, now, {event = 'resolved', agent = agent, outcome = outcome, note = note,
  escalated = escalated})
close_task(K, t, now, outcome, agent, note, escalated)
local p, w = pending(K.relay, K.audit, K.alerts)
return cjson.encode({ok = true, outcome = outcome, escalated = escalated, freezes = changed,
  placement = gone(t.id, t.user_id, t.member, version, escalated), publish = p,
  next_expiry = next_expiry(K.freezes, now)})
