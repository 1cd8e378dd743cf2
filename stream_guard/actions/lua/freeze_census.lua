-- A user's freezes per scope as the relay has published them: the freezes in the hash now,
-- less those placed after the relay's audit cursor, plus those lifted or expired after it.
-- The sweep adds these up to set the active-freeze counters (see outbox.Relay.sweep).
-- KEYS: freezes audit relay   ARGV: (none)
local counts = {}
for _, raw in pairs(hgetall(KEYS[1])) do
  local f = cjson.decode(raw)
  counts[f.scope] = (counts[f.scope] or 0) + 1
end
local cur = redis.call('HGET', KEYS[3], 'audit') or '0-0'
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '(' .. cur, '+')) do
  local action, scope = nil, nil
  local fields = e[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'action' then action = fields[i + 1] elseif fields[i] == 'scope' then scope = fields[i + 1] end
  end
  if scope then
    if action == 'freeze' then counts[scope] = (counts[scope] or 0) - 1
    elseif action == 'lift' or action == 'expire' then counts[scope] = (counts[scope] or 0) + 1 end
  end
end
return cjson.encode(counts)
