"""The Lua scripts that make each Redis counter check one atomic round trip.

Every script reads the clock with ``TIME`` on the server, so replicas with skewed clocks still share
one window; Redis 5+ replicates script effects, which makes that safe.
"""

from __future__ import annotations

__all__ = ["ACQUIRE_SLOT", "ADD_SPEND", "RENEW_SLOT", "RESERVE"]

# KEYS[1] hash of window index -> count. ARGV: window seconds, limit, amount, force ("1" = adjust).
# Returns {allowed, previous count, current count, seconds into the current window} before charging.
RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local index = math.floor(now / window)
local field = string.format('%d', index)
local previous = tonumber(redis.call('HGET', KEYS[1], string.format('%d', index - 1)) or '0')
local current = tonumber(redis.call('HGET', KEYS[1], field) or '0')
local elapsed = now - index * window
local used = previous * (1 - elapsed / window) + current
if used < 0 then used = 0 end
local allowed = 0
if ARGV[4] == '1' or used + amount <= limit then
  allowed = 1
  redis.call('HINCRBY', KEYS[1], field, ARGV[3])
  redis.call('HDEL', KEYS[1], string.format('%d', index - 2))
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 2000))
end
return {allowed, tostring(previous), tostring(current), tostring(elapsed)}
"""

# KEYS[1] sorted set of slot id -> lease expiry (server seconds). ARGV: lease seconds, limit, slot id.
# Returns {acquired, slots left, seconds until the oldest lease ends (-1: none)}.
ACQUIRE_SLOT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now))
local count = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[2])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = -1
  if oldest[2] then wait = tonumber(oldest[2]) - now end
  return {0, 0, tostring(wait)}
end
redis.call('ZADD', KEYS[1], string.format('%.6f', now + tonumber(ARGV[1])), ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2]) * 1000))
return {1, limit - count - 1, '0'}
"""

# KEYS[1] as above. ARGV: lease seconds, slot id. Returns 1 when the slot was still held.
RENEW_SLOT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now))
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', string.format('%.6f', now + tonumber(ARGV[1])), ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2]) * 1000))
return 1
"""

# KEYS[1] day total, KEYS[2] month total. ARGV: cost, day TTL seconds, month TTL seconds.
ADD_SPEND = """
local day = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local month = redis.call('INCRBYFLOAT', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {day, month}
"""
