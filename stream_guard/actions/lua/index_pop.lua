-- The best task an agent may take, moved to the leased set under its name; nil if none.
-- Leases that ran out and retries that are due go back to the ready sets first.
-- KEYS: leased delayed entry ready:<lang>...   ARGV: now_ms, lease_until_ms, agent, langs, take
local leased, delayed, entry = KEYS[1], KEYS[2], KEYS[3]
local now, until_, agent = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local langs, take = cjson.decode(ARGV[4]), cjson.decode(ARGV[5])
local ready = {}
for i, lang in ipairs(langs) do ready[lang] = KEYS[3 + i] end

local function back(zset)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', zset, '-inf', now, 'LIMIT', 0, 100)) do
    redis.call('ZREM', zset, m)
    local raw = redis.call('HGET', entry, m)
    if raw then
      local e = cjson.decode(raw)
      redis.call('ZADD', ready[e.lang] or ready['en'], e.score, m)
    end
  end
end
back(leased)
back(delayed)

local best, best_score, best_key = nil, nil, nil
for _, lang in ipairs(take) do
  local key = ready[lang]
  if key then
    local r = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if #r > 0 then
      local s = tonumber(r[2])
      if best == nil or s < best_score or (s == best_score and r[1] < best) then
        best, best_score, best_key = r[1], s, key
      end
    end
  end
end
if best == nil then return nil end
redis.call('ZREM', best_key, best)
redis.call('ZADD', leased, until_, best)
local raw = redis.call('HGET', entry, best)
if not raw then return cjson.encode({member = best}) end
return raw
