-- Count the open tasks whose SLA deadline passed since the last tally, and move the tally
-- on to now: tallies by several processes cover disjoint stretches of time, so each breach
-- is counted once. The first tally only starts the clock.
-- KEYS: deadline sla   ARGV: now_ms
local now = tonumber(ARGV[1])
local cur = num(redis.call('HGET', KEYS[2], 'tallied_to'))
if cur == nil then
  redis.call('HSET', KEYS[2], 'tallied_to', int(now))
  return 0
end
if now <= cur then return 0 end
local n = redis.call('ZCOUNT', KEYS[1], '(' .. int(cur), int(now))
redis.call('HSET', KEYS[2], 'tallied_to', int(now))
return n
