-- Place, lift or expire a user's freezes by hand or by the clock, with the audit trail.
-- KEYS: freezes audit relay alerts
-- ARGV: now_ms, op ('place'|'lift'|'expire'), args (JSON)
local K = {freezes = KEYS[1], audit = KEYS[2], relay = KEYS[3], alerts = KEYS[4]}
local now, op, a = tonumber(ARGV[1]), ARGV[2], cjson.decode(ARGV[3])
local changed = {}
if op == 'place' then
  local f = a.freeze
  if redis.call('HEXISTS', K.freezes, f.freeze_id) == 0 then
    f.created_at = now
    redis.call('HSET', K.freezes, f.freeze_id, cjson.encode(f))
    audit(K.audit, K.freezes, now, {action = 'freeze', freeze_id = f.freeze_id, scope = f.scope,
      by = f.by, reason = f.reason, rule_ids = f.rule_ids, decision_ids = f.decision_ids,
      expires_at = f.expires_at})
    table.insert(changed, f.freeze_id)
  end
else
  local wanted = nil
  if a.freeze_ids then
    wanted = {}
    for _, id in ipairs(a.freeze_ids) do wanted[id] = true end
  end
  for id, raw in pairs(hgetall(K.freezes)) do
    local f = cjson.decode(raw)
    local exp = num(f.expires_at)
    local hit
    if op == 'expire' then
      hit = exp ~= nil and exp <= now
    else
      hit = freeze_active(f, now) and (wanted == nil or wanted[id])
        and (a.scope == nil or a.scope == f.scope or a.scope == 'all')
    end
    if hit then
      redis.call('HDEL', K.freezes, id)
      audit(K.audit, K.freezes, now, {action = op, freeze_id = id, scope = f.scope,
        by = (op == 'expire' and 'stream-guard') or a.by, reason = (op == 'expire' and 'expired') or a.reason,
        rule_ids = f.rule_ids, decision_ids = f.decision_ids, task_id = f.task_id})
      table.insert(changed, id)
    elseif op == 'lift' and exp ~= nil and exp <= now then
      redis.call('HDEL', K.freezes, id)  -- expired already: the sweeper's note comes too late
      audit(K.audit, K.freezes, now, {action = 'expire', freeze_id = id, scope = f.scope,
        by = 'stream-guard', reason = 'expired', rule_ids = f.rule_ids, decision_ids = f.decision_ids,
        task_id = f.task_id})
    end
  end
end
local p = pending(K.relay, K.audit, K.alerts)
return cjson.encode({changed = changed, publish = p, next_expiry = next_expiry(K.freezes, now)})
