-- GCRA over several buckets at once, atomically (services/integration-gateway/src/domain/gcra.ts is the
-- same arithmetic in TypeScript; docs/integration-gateway.md explains the algorithm).
--
-- KEYS[1]     the tenant's drill fault key: when it exists nothing is charged and the answer is "fault"
-- KEYS[2..]   one string per bucket: "<tat> <interval>" (theoretical arrival time in ms, and the interval
--             it was computed with, as the caller sent it), with a TTL
-- ARGV[1]     cost of the request
-- ARGV[2i], ARGV[2i+1]  bucket i's interval (ms per request) and capacity (requestsPerMinute + burst)
--
-- Every key carries the tenant's hash tag, so on a Redis Cluster the script runs on one node.
-- Returns {status, bucket, remaining, reset_ms, retry_after_ms}: status 0 allowed (every bucket charged),
-- 1 rejected (none charged; bucket is the one that waits longest), 2 fault. Time is Redis' own clock, so
-- every gateway replica sees the same one.
--
-- Kept cheap on purpose (bench/README.md): one MGET reads the fault key and every bucket, one TIME, one
-- SET ... PX per bucket charged (a hash needed HSET and PEXPIRE); the interval is compared as the string it
-- was stored as.
local state = redis.call('MGET', unpack(KEYS))
if state[1] then
  return {2, 0, 0, 0, 0}
end
local clock = redis.call('TIME')
local now = clock[1] * 1000 + clock[2] / 1000
local cost = tonumber(ARGV[1])
local n = #KEYS - 1
local next_tat = {}
local rejected, retry, reject_reset = 0, 0, 0
for i = 1, n do
  local iv = ARGV[2 * i]
  local interval = tonumber(iv)
  local tat = now
  local raw = state[i + 1]
  if raw then
    local sep = string.find(raw, ' ', 1, true)
    local stored = tonumber(string.sub(raw, 1, sep - 1))
    if stored > now then
      local old_iv = string.sub(raw, sep + 1)
      if old_iv ~= iv then
        -- The limit changed: keep the requests already used, counted at the new rate.
        stored = now + (stored - now) * interval / tonumber(old_iv)
      end
      tat = stored
    end
  end
  local new_tat = tat + interval * cost
  local wait = new_tat - interval * ARGV[2 * i + 1] - now
  if wait > retry then
    rejected, retry, reject_reset = i, wait, tat - now
  end
  next_tat[i] = new_tat
end
if rejected > 0 then
  return {1, rejected, 0, math.ceil(reject_reset), math.ceil(retry)}
end
local best, best_remaining, best_reset = 1, -1, 0
for i = 1, n do
  local iv = ARGV[2 * i]
  local interval = tonumber(iv)
  local new_tat = next_tat[i]
  local ttl = new_tat - now
  -- %.17g: Lua's own number format (%.14g) would round the ms fraction and drift a fast bucket.
  redis.call('SET', KEYS[i + 1], string.format('%.17g %s', new_tat, iv), 'PX', math.ceil(ttl) + 1000)
  local remaining = math.floor((interval * ARGV[2 * i + 1] - ttl) / interval)
  if best_remaining < 0 or remaining < best_remaining then
    best, best_remaining, best_reset = i, remaining, ttl
  end
end
return {0, best, best_remaining, math.ceil(best_reset), 0}
