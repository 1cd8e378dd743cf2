-- Put a task where its state says in the task index (one slot: {queue}). Placements carry
-- the task's version; an older one than the index has is ignored, so updates that arrive
-- late or twice never move a task back.
-- KEYS: leased delayed deadline entry escalated ready:<lang>...
-- ARGV: now_ms, placement (JSON), langs (JSON, in the order of the ready keys)
local now, p, langs = tonumber(ARGV[1]), cjson.decode(ARGV[2]), cjson.decode(ARGV[3])
local leased, delayed, deadline, entry, escalated = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ready = {}
for i, lang in ipairs(langs) do ready[lang] = KEYS[5 + i] end
local m = p.member
local cur = redis.call('HGET', entry, m)
if cur then
  local c = cjson.decode(cur)
  if tonumber(c.version) > tonumber(p.version) then return 'old' end
end
redis.call('ZREM', leased, m)
redis.call('ZREM', delayed, m)
for _, key in pairs(ready) do redis.call('ZREM', key, m) end
if p.state == 'gone' then
  redis.call('HDEL', entry, m)
  redis.call('ZREM', deadline, m)
  if p.escalated then redis.call('ZADD', escalated, now, p.task_id) end
  return 'gone'
end
if p.state == 'leased' then redis.call('ZADD', leased, p.at, m)
elseif p.state == 'delayed' then redis.call('ZADD', delayed, p.at, m)
else redis.call('ZADD', ready[p.lang] or ready['en'], p.score, m) end
redis.call('ZADD', deadline, p.deadline, m)
redis.call('HSET', entry, m, ARGV[2])
return p.state
