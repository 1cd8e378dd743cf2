-- An agent renews its lease on a task or gives it back to the queue.
-- ('peek': where the user's open task belongs in the index, whoever asks; for the sweeper)
-- KEYS: task task_log   ARGV: now_ms, task_id, agent, op ('renew'|'release'|'peek'), lease_ms
local K = {task = KEYS[1], log = KEYS[2]}
local now, task_id, agent, op, lease = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if redis.call('EXISTS', K.task) == 0 then return cjson.encode({ok = false, why = 'closed'}) end
local t = hgetall(K.task)
if op == 'peek' then return cjson.encode({ok = true, placement = placement(t)}) end
if t.id ~= task_id then return cjson.encode({ok = false, why = 'closed'}) end
if t.state ~= 'claimed' or t.owner ~= agent then
  return cjson.encode({ok = false, why = 'not_yours', placement = placement(t)})
end
if op == 'renew' then
  t.lease_until = int(now + lease)
  redis.call('HSET', K.task, 'lease_until', t.lease_until)
else
  t.state, t.owner = 'queued', nil
  redis.call('HSET', K.task, 'state', 'queued')
  redis.call('HDEL', K.task, 'owner', 'lease_until')
  log_task(K.log, now, {event = 'released', agent = agent})
end
t.version = int(tonumber(t.version) + 1)
redis.call('HSET', K.task, 'version', t.version)
return cjson.encode({ok = true, placement = placement(t)})
