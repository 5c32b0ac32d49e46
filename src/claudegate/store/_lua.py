"""The Lua scripts that make each Redis counter check one atomic round trip.

Every script reads the clock with ``TIME`` on the server, so replicas with skewed clocks still share
one window; Redis 5+ replicates script effects, which makes that safe.
"""

from __future__ import annotations

__all__ = ["ACQUIRE_SLOT", "ADD_SPEND", "ADMIT", "RENEW_SLOT", "RESERVE", "SETTLE"]

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

# A whole admission in one round trip, all or nothing. KEYS: one window hash per rate, then the slot
# set, the day total and the month total. ARGV: rate count, slot limit (-1: none), lease seconds,
# slot id, day cap and month cap (-1: none), then window, limit and amount per rate.
# Returns {allowed, then per rate: fits, previous, current, elapsed; then slot fits, slots left,
# wait (-1: none); then the day and month totals}.
ADMIT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local n = tonumber(ARGV[1])
local reply = {0}
local ok = true
local indexes = {}
for i = 1, n do
  local base = 6 + (i - 1) * 3
  local window = tonumber(ARGV[base + 1])
  local limit = tonumber(ARGV[base + 2])
  local amount = tonumber(ARGV[base + 3])
  local index = math.floor(now / window)
  indexes[i] = index
  local previous = tonumber(redis.call('HGET', KEYS[i], string.format('%d', index - 1)) or '0')
  local current = tonumber(redis.call('HGET', KEYS[i], string.format('%d', index)) or '0')
  local elapsed = now - index * window
  local used = previous * (1 - elapsed / window) + current
  if used < 0 then used = 0 end
  local fits = 0
  if used + amount <= limit then fits = 1 else ok = false end
  reply[#reply + 1] = fits
  reply[#reply + 1] = tostring(previous)
  reply[#reply + 1] = tostring(current)
  reply[#reply + 1] = tostring(elapsed)
end
local day = redis.call('GET', KEYS[n + 2]) or '0'
local month = redis.call('GET', KEYS[n + 3]) or '0'
local day_cap = tonumber(ARGV[5])
local month_cap = tonumber(ARGV[6])
if (day_cap >= 0 and tonumber(day) >= day_cap) or (month_cap >= 0 and tonumber(month) >= month_cap) then
  ok = false
end
local slots = tonumber(ARGV[2])
local slot = {1, -1, '-1'}
if slots >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[n + 1], '-inf', string.format('%.6f', now))
  local count = redis.call('ZCARD', KEYS[n + 1])
  if count >= slots then
    ok = false
    local oldest = redis.call('ZRANGE', KEYS[n + 1], 0, 0, 'WITHSCORES')
    local wait = -1
    if oldest[2] then wait = tonumber(oldest[2]) - now end
    slot = {0, 0, tostring(wait)}
  else
    slot = {1, slots - count - 1, '0'}
  end
end
if ok then
  reply[1] = 1
  for i = 1, n do
    local base = 6 + (i - 1) * 3
    local window = tonumber(ARGV[base + 1])
    redis.call('HINCRBY', KEYS[i], string.format('%d', indexes[i]), ARGV[base + 3])
    redis.call('HDEL', KEYS[i], string.format('%d', indexes[i] - 2))
    redis.call('PEXPIRE', KEYS[i], math.ceil(window * 2000))
  end
  if slots >= 0 then
    redis.call('ZADD', KEYS[n + 1], string.format('%.6f', now + tonumber(ARGV[3])), ARGV[4])
    local last = redis.call('ZRANGE', KEYS[n + 1], -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', KEYS[n + 1], math.ceil(tonumber(last[2]) * 1000))
  end
end
reply[#reply + 1] = slot[1]
reply[#reply + 1] = slot[2]
reply[#reply + 1] = slot[3]
reply[#reply + 1] = day
reply[#reply + 1] = month
return reply
"""

# Everything after the answer in one round trip. KEYS: the slot set, the day total, the month total,
# then one window hash per adjustment. ARGV: slot id ('': none), cost ('': none), day TTL, month TTL,
# then window and delta per adjustment.
SETTLE = """
if ARGV[1] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
if ARGV[2] ~= '' then
  redis.call('INCRBYFLOAT', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  redis.call('INCRBYFLOAT', KEYS[3], ARGV[2])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
if #KEYS > 3 then
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
  for i = 4, #KEYS do
    local base = 5 + (i - 4) * 2
    local window = tonumber(ARGV[base])
    local index = math.floor(now / window)
    redis.call('HINCRBY', KEYS[i], string.format('%d', index), ARGV[base + 1])
    redis.call('HDEL', KEYS[i], string.format('%d', index - 2))
    redis.call('PEXPIRE', KEYS[i], math.ceil(window * 2000))
  end
end
return 1
"""
