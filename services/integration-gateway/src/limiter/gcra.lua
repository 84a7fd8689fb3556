-- GCRA over several buckets at once, atomically (services/integration-gateway/src/domain/gcra.ts is the
-- same arithmetic in TypeScript; docs/integration-gateway.md explains the algorithm).
--
-- KEYS[1]     the tenant's drill fault key: when it exists nothing is charged and the answer is "fault"
-- KEYS[2..]   one hash per bucket: tat (theoretical arrival time, ms), iv (the interval tat was computed with)
-- ARGV[1]     cost of the request
-- ARGV[2i], ARGV[2i+1]  bucket i's interval (ms per request) and capacity (requestsPerMinute + burst)
--
-- Returns {status, bucket, remaining, reset_ms, retry_after_ms}: status 0 allowed (every bucket charged),
-- 1 rejected (none charged; bucket is the one that waits longest), 2 fault. Time is Redis' own clock, so
-- every gateway replica sees the same one.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {2, 0, 0, 0, 0}
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local cost = tonumber(ARGV[1])
local n = #KEYS - 1
local next_tat = {}
local rejected, retry, reject_reset = 0, 0, 0
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local capacity = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', KEYS[i + 1], 'tat', 'iv')
  local tat = tonumber(state[1])
  local old_interval = tonumber(state[2])
  if tat == nil or tat < now then
    tat = now
  elseif old_interval ~= nil and old_interval ~= interval then
    -- The limit changed: keep the requests already used, counted at the new rate.
    tat = now + (tat - now) * interval / old_interval
  end
  local new_tat = tat + interval * cost
  local allow_at = new_tat - interval * capacity
  if now < allow_at then
    if allow_at - now > retry then
      rejected, retry, reject_reset = i, allow_at - now, tat - now
    end
  end
  next_tat[i] = new_tat
end
if rejected > 0 then
  return {1, rejected, 0, math.ceil(reject_reset), math.ceil(retry)}
end
local best, best_remaining, best_reset = 1, -1, 0
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local capacity = tonumber(ARGV[2 * i + 1])
  local new_tat = next_tat[i]
  redis.call('HSET', KEYS[i + 1], 'tat', new_tat, 'iv', interval)
  redis.call('PEXPIRE', KEYS[i + 1], math.ceil(new_tat - now) + 1000)
  local remaining = math.floor((now - (new_tat - interval * capacity)) / interval)
  if best_remaining < 0 or remaining < best_remaining then
    best, best_remaining, best_reset = i, remaining, new_tat - now
  end
end
return {0, best, best_remaining, math.ceil(best_reset), 0}
