-- One decision's actions for one user, all or nothing, at most once per decision id.
-- KEYS: done profile task task_decisions task_log freezes audit alerts limits relay shadow
-- ARGV: now_ms, plan (JSON, see effects.py)
local K = {done = KEYS[1], profile = KEYS[2], task = KEYS[3], decisions = KEYS[4], log = KEYS[5],
           freezes = KEYS[6], audit = KEYS[7], alerts = KEYS[8], limits = KEYS[9],
           relay = KEYS[10], shadow = KEYS[11]}
local now = tonumber(ARGV[1])
local plan = cjson.decode(ARGV[2])

local function current_placement()
  if redis.call('EXISTS', K.task) == 1 then return placement(hgetall(K.task)) end
  return nil
end

local seen = redis.call('GET', K.done)
if seen then
  local r = cjson.decode(seen)
  r.new = false
  r.placement = current_placement()
  r.publish, r.webhook = pending(K.relay, K.audit, K.alerts)
  r.next_expiry = next_expiry(K.freezes, now)
  return cjson.encode(r)
end

local result = {new = true, freezes = {}, alerts = {}, suppressed = {}}
local d_json = plan.decision  -- the decision as JSON text, stored as it came
local d = cjson.decode(d_json)

if plan.locale then redis.call('HSET', K.profile, 'locale', plan.locale, 'locale_at', int(now)) end

if plan.shadow then
  redis.call('XADD', K.shadow, 'MAXLEN', '~', plan.shadow_keep, '*', 'decision', d_json, 'at', int(now))
  result.shadow = true
  redis.call('SET', K.done, cjson.encode(result), 'PX', plan.dedup_ttl_ms)
  return cjson.encode(result)
end

-- freezes
local new_freezes = {}
for _, f in ipairs(plan.freezes or {}) do
  if redis.call('HEXISTS', K.freezes, f.freeze_id) == 0 then
    f.created_at = now
    f.by = 'stream-guard'
    redis.call('HSET', K.freezes, f.freeze_id, cjson.encode(f))  -- audited below, with its task
    table.insert(result.freezes, f.freeze_id)
    table.insert(new_freezes, f.freeze_id)
  end
end

-- the callback task: one open task per user accumulates the decisions
local tp = plan.task
if tp then
  local t = nil
  if redis.call('EXISTS', K.task) == 1 then
    t = hgetall(K.task)
    local before = t.priority
    if tp.callback and PRIORITY_RANK[tp.priority] < PRIORITY_RANK[t.priority] then t.priority = tp.priority end
    if tp.callback and tp.deadline < tonumber(t.deadline) then t.deadline = int(tp.deadline) end
    local rules = decode_list(t.rule_ids)
    local known = false
    for _, r in ipairs(rules) do if r == d.rule_id then known = true end end
    if not known then table.insert(rules, d.rule_id) end
    local fids = decode_list(t.freeze_ids)
    for _, id in ipairs(new_freezes) do table.insert(fids, id) end
    t.rule_ids = cjson.encode(rules)
    t.freeze_ids = cjson.encode(fids)
    t.decisions = int(tonumber(t.decisions) + 1)
    t.version = int(tonumber(t.version) + 1)
    t.updated = int(now)
    redis.call('HSET', K.task, 'priority', t.priority, 'deadline', t.deadline, 'rule_ids', t.rule_ids,
      'freeze_ids', t.freeze_ids, 'decisions', t.decisions, 'version', t.version, 'updated', t.updated)
    log_task(K.log, now, {event = 'merged', decision_id = d.decision_id, rule_id = d.rule_id,
      priority_before = before, priority = t.priority})
    result.merged = true
  elseif tp.create then
    local n = redis.call('HINCRBY', K.profile, 'tasks', 1)
    local id = plan.user_id .. '~' .. int(n)
    t = {id = id, n = int(n), user_id = plan.user_id, state = 'queued', priority = tp.priority,
         deadline = int(tp.deadline), created = int(now), updated = int(now), locale = tp.locale,
         lang = tp.lang, reason = tp.reason, attempts = '0', version = '1', decisions = '1',
         rule_ids = cjson.encode({d.rule_id}), freeze_ids = cjson.encode(new_freezes),
         member = string.format('%013d|%s', now, id)}
    local flat = {}
    for k, v in pairs(t) do table.insert(flat, k) table.insert(flat, v) end
    redis.call('HSET', K.task, unpack(flat))
    log_task(K.log, now, {event = 'created', decision_id = d.decision_id, rule_id = d.rule_id,
      priority = tp.priority})
    result.created = true
  end
  if t then
    redis.call('RPUSH', K.decisions, d_json)
    result.task_id = t.id
  end
end
-- freezes of this decision are the task's: lifted if the user confirms it was them
for _, id in ipairs(new_freezes) do
  local f = cjson.decode(redis.call('HGET', K.freezes, id))
  f.task_id = result.task_id
  redis.call('HSET', K.freezes, id, cjson.encode(f))
  audit(K.audit, K.freezes, now, {action = 'freeze', freeze_id = id, scope = f.scope,
    by = 'stream-guard', reason = f.reason, rule_ids = f.rule_ids, decision_ids = f.decision_ids,
    expires_at = f.expires_at, task_id = result.task_id})
end

-- alerts and reminders, within the user's limits
local lim = plan.limits
local sent_times = decode_list(redis.call('HGET', K.limits, 'alerts'))
local kept = {}
for _, ts in ipairs(sent_times) do if ts > now - lim.alert_window_ms then table.insert(kept, ts) end end
sent_times = kept
local new_alerts = 0
for _, a in ipairs(plan.alerts or {}) do
  local why = nil
  if a.kind == 'security_reminder' then
    local last = num(redis.call('HGET', K.limits, 'r:' .. a.key))
    if last and now - last < lim.reminder_cooldown_ms then why = 'cooldown' end
  else
    local last = num(redis.call('HGET', K.limits, 't:' .. a.key))
    if last and now - last < lim.alert_repeat_ms then why = 'repeat'
    elseif #sent_times >= lim.alert_limit then why = 'rate_limited' end
  end
  if why then
    table.insert(result.suppressed, {alert_id = a.alert_id, key = a.key, why = why})
  else
    if a.kind == 'security_reminder' then
      redis.call('HSET', K.limits, 'r:' .. a.key, int(now))
    else
      redis.call('HSET', K.limits, 't:' .. a.key, int(now))
      table.insert(sent_times, now)
    end
    redis.call('XADD', K.alerts, 'MAXLEN', '~', 1000, '*', 'alert_id', a.alert_id, 'kind', a.kind,
      'key', a.key, 'at', int(now), 'payload', a.payload)
    table.insert(result.alerts, a.alert_id)
    new_alerts = new_alerts + 1
  end
end
if new_alerts > 0 then
  redis.call('HSET', K.limits, 'alerts', cjson.encode(sent_times))
  redis.call('PEXPIRE', K.limits, lim.keep_ms)
end

-- remembered as done (what it did, not the placement: that is read fresh on a replay)
redis.call('SET', K.done, cjson.encode(result), 'PX', plan.dedup_ttl_ms)
result.placement = current_placement()
result.publish, result.webhook = pending(K.relay, K.audit, K.alerts)
result.next_expiry = next_expiry(K.freezes, now)
return cjson.encode(result)
