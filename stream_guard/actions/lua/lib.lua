-- Shared helpers, prepended to every script (see scripts.py). Times are integer ms.
local PRIORITY_RANK = {critical = 0, high = 1, medium = 2, low = 3}
local RANK_SPAN = 10000000000000  -- 1e13 ms: a priority's band in the ready score

local function num(v) if v == nil or v == false or v == cjson.null then return nil end return tonumber(v) end
local function int(v) return string.format('%d', v) end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #flat, 2 do out[flat[i]] = flat[i + 1] end
  return out
end

local function decode_list(s)
  if s == nil or s == false or s == '' then return {} end
  local v = cjson.decode(s)
  if type(v) ~= 'table' then return {} end
  return v
end

-- stream ids 'ms-seq': is a later than b?
local function id_gt(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if am ~= bm then return am > bm end
  return as > bs
end

local function last_id(stream)
  local r = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if #r == 0 then return '0-0' end
  return r[1][1]
end

-- whether the user's audit trail or alerts hold entries not yet published
local function pending(relay, audit, alerts)
  local c = redis.call('HMGET', relay, 'audit', 'alerts', 'webhook')
  local pa = id_gt(last_id(audit), c[1] or '0-0')
  local last_alert = last_id(alerts)
  return pa or id_gt(last_alert, c[2] or '0-0'), id_gt(last_alert, c[3] or '0-0')
end

local function freeze_active(f, now)
  if f.released_at then return false end
  local exp = num(f.expires_at)
  return exp == nil or exp > now
end

-- {withdrawals = bool, login = bool} after the freezes as they are now
local function frozen_scopes(freezes, now)
  local w, l = false, false
  for _, raw in pairs(hgetall(freezes)) do
    local f = cjson.decode(raw)
    if freeze_active(f, now) then
      if f.scope == 'withdrawals' or f.scope == 'all' then w = true end
      if f.scope == 'login' or f.scope == 'all' then l = true end
    end
  end
  return w, l
end

local function next_expiry(freezes, now)
  local best = nil
  for _, raw in pairs(hgetall(freezes)) do
    local f = cjson.decode(raw)
    local exp = num(f.expires_at)
    if exp and not f.released_at and (best == nil or exp < best) then best = exp end
  end
  return best
end

-- append one freeze change to the audit trail (with the user's status after it)
local function audit(audit_key, freezes, now, change)
  local w, l = frozen_scopes(freezes, now)
  local fields = {'at', int(now), 'withdrawals_frozen', w and '1' or '0', 'login_frozen', l and '1' or '0'}
  for k, v in pairs(change) do
    if type(v) == 'table' then v = cjson.encode(v) end
    if v ~= nil and v ~= cjson.null then
      table.insert(fields, k)
      table.insert(fields, tostring(v))
    end
  end
  return redis.call('XADD', audit_key, '*', unpack(fields))
end

local function task_score(t)
  return (PRIORITY_RANK[t.priority] or 2) * RANK_SPAN + tonumber(t.deadline)
end

local function placement(t)
  local state, at = 'ready', nil
  if t.state == 'claimed' then state, at = 'leased', tonumber(t.lease_until)
  elseif t.state == 'delayed' then state, at = 'delayed', tonumber(t.retry_at) end
  return {
    task_id = t.id, user_id = t.user_id, member = t.member, version = tonumber(t.version),
    state = state, lang = t.lang, priority = t.priority, score = task_score(t),
    deadline = tonumber(t.deadline), at = at, owner = t.owner, created = num(t.created),
  }
end

local function gone(task_id, user_id, member, version, escalated)
  return {task_id = task_id, user_id = user_id, member = member, version = version,
          state = 'gone', escalated = escalated}
end

local function log_task(log_key, now, event)
  event.at = now
  redis.call('RPUSH', log_key, cjson.encode(event))
end

-- the closed task as one JSON record, moved to the user's archive
local function close_task(K, t, now, outcome, by, note, escalated)
  local rec = {}
  for k, v in pairs(t) do rec[k] = v end
  rec.state = 'closed'
  rec.outcome = outcome
  rec.closed_at = now
  rec.closed_by = by
  rec.note = note
  rec.escalated = escalated
  local ls = redis.call('LRANGE', K.log, 0, -1)
  rec.log = {}
  for i, e in ipairs(ls) do rec.log[i] = cjson.decode(e) end
  -- the decisions go in as the JSON text they were stored as: decoded and encoded again by
  -- cjson, an empty list anywhere in them would come out as {}
  local ds = redis.call('LRANGE', K.decisions, 0, -1)
  local head = cjson.encode(rec)  -- an object with keys, so it ends with '}'
  redis.call('HSET', K.archive, t.n,
    string.sub(head, 1, -2) .. ',"decision_list":[' .. table.concat(ds, ',') .. ']}')
  redis.call('DEL', K.task, K.decisions, K.log)
end
