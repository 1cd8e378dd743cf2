-- The index of users with something to send (or a freeze to expire), one slot per index.
-- KEYS: index gen   ARGV: op, ...
--   notify user when       : add the user (keeping the earliest time), bump its generation
--   peek now limit         : users due, with their generations
--   done user gen [next]   : if nothing was notified since gen: remove (or re-time to next)
local index, gen, op = KEYS[1], KEYS[2], ARGV[1]
if op == 'notify' then
  local user, when = ARGV[2], tonumber(ARGV[3])
  local cur = redis.call('ZSCORE', index, user)
  if not cur or tonumber(cur) > when then redis.call('ZADD', index, when, user) end
  return redis.call('HINCRBY', gen, user, 1)
elseif op == 'peek' then
  local users = redis.call('ZRANGEBYSCORE', index, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
  local out = {}
  for _, u in ipairs(users) do
    table.insert(out, u)
    table.insert(out, redis.call('HGET', gen, u) or '0')
  end
  return out
elseif op == 'done' then
  local user, seen = ARGV[2], ARGV[3]
  if (redis.call('HGET', gen, user) or '0') ~= seen then return 0 end
  if ARGV[4] and ARGV[4] ~= '' then
    redis.call('ZADD', index, tonumber(ARGV[4]), user)
  else
    redis.call('ZREM', index, user)
    redis.call('HDEL', gen, user)
  end
  return 1
end
return redis.error_reply('unknown outbox op ' .. tostring(op))
