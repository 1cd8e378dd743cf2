-- Move a user's publication cursor forward (never back).
-- KEYS: relay   ARGV: field, id
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or '0-0'
if id_gt(ARGV[2], cur) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end
return 0
