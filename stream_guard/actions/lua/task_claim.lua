-- Give the user's open task to an agent, if it is claimable now. The task index only
-- suggests which task to try; this script decides, so two agents never hold one task.
-- KEYS: task task_log   ARGV: now_ms, task_id, agent, lease_ms
local K = {task = KEYS[1], log = KEYS[2]}
local now, task_id, agent, lease = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('EXISTS', K.task) == 0 then return cjson.encode({ok = false, why = 'closed'}) end
local t = hgetall(K.task)
if t.id ~= task_id then return cjson.encode({ok = false, why = 'closed'}) end
local why = nil
if t.state == 'claimed' and tonumber(t.lease_until) > now and t.owner ~= agent then why = 'claimed'
elseif t.state == 'delayed' and tonumber(t.retry_at) > now then why = 'delayed' end
if why then return cjson.encode({ok = false, why = why, placement = placement(t)}) end
if t.state == 'claimed' and t.owner ~= agent then
  log_task(K.log, now, {event = 'lease_expired', agent = t.owner})
end
t.state, t.owner, t.lease_until = 'claimed', agent, int(now + lease)
t.claimed_at = int(now)
t.version = int(tonumber(t.version) + 1)
redis.call('HSET', K.task, 'state', t.state, 'owner', agent, 'lease_until', t.lease_until,
  'claimed_at', t.claimed_at, 'version', t.version)
redis.call('HDEL', K.task, 'retry_at')
log_task(K.log, now, {event = 'claimed', agent = agent})
return cjson.encode({ok = true, placement = placement(t)})
