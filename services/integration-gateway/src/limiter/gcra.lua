-- GCRA over several buckets at once, atomically, for one or more checks in one call
-- (services/integration-gateway/src/domain/gcra.ts is the same arithmetic in TypeScript;
-- docs/integration-gateway.md explains the algorithm).
--
-- The checks of one call are decided one after the other in the order given, exactly as if each had been
-- its own call at the same instant: a check sees what the checks before it charged (RedisLimiter batches
-- the checks its callers make while an earlier call is in flight; bench/README.md says why).
--
-- For each check, in order:
--   KEYS      the tenant's drill fault key (when it exists the check charges nothing and answers "fault"),
--             then one string per bucket: "<tat> <interval>" (theoretical arrival time in ms, and the
--             interval it was computed with, as the caller sent it), with a TTL
--   ARGV      n (the check's number of buckets), the cost of the request, then per bucket its interval
--             (ms per request) and capacity (requestsPerMinute + burst)
--
-- On a Redis Cluster a call holds one check (RedisLimiter batches on a single Redis only), whose keys all
-- carry the tenant's hash tag, so the script runs on one node; a single Redis takes the checks of several
-- tenants in one call.
-- Returns five integers per check, {status, bucket, remaining, reset_ms, retry_after_ms}: status 0 allowed
-- (every bucket charged), 1 rejected (none charged; bucket is the one that waits longest), 2 fault. Time is
-- Redis' own clock, so every gateway replica sees the same one.
--
-- Kept cheap on purpose (bench/README.md): one MGET reads every fault key and bucket, one TIME, one
-- SET ... PX per bucket charged (once per call, however many checks charged it); the interval is compared
-- as the string it was stored as.
local state = redis.call('MGET', unpack(KEYS))
local clock = redis.call('TIME')
local now = clock[1] * 1000 + clock[2] / 1000
-- Buckets charged by an earlier check of this call: their new TAT and interval, written once at the end.
local tat_of, iv_of, changed = {}, {}, {}
local reply = {}
local next_tat = {}
local k, a, r = 1, 1, 0
local nargs = #ARGV
while a <= nargs do
  local n = tonumber(ARGV[a])
  if state[k] then
    reply[r + 1], reply[r + 2], reply[r + 3], reply[r + 4], reply[r + 5] = 2, 0, 0, 0, 0
  else
    local cost = tonumber(ARGV[a + 1])
    local rejected, retry, reject_reset = 0, 0, 0
    for i = 1, n do
      local key = KEYS[k + i]
      local iv = ARGV[a + 2 * i]
      local interval = tonumber(iv)
      local tat = now
      local stored, old_iv = tat_of[key], iv_of[key]
      if stored == nil then
        local raw = state[k + i]
        if raw then
          local sep = string.find(raw, ' ', 1, true)
          if sep then
            stored = tonumber(string.sub(raw, 1, sep - 1))
            old_iv = string.sub(raw, sep + 1)
          end
        end
      end
      if stored and stored > now then
        if old_iv ~= iv then
          -- The limit changed: keep the requests already used, counted at the new rate.
          stored = now + (stored - now) * interval / tonumber(old_iv)
        end
        tat = stored
      end
      local new_tat = tat + interval * cost
      local wait = new_tat - interval * ARGV[a + 2 * i + 1] - now
      if wait > retry then
        rejected, retry, reject_reset = i, wait, tat - now
      end
      next_tat[i] = new_tat
    end
    if rejected > 0 then
      reply[r + 1], reply[r + 2], reply[r + 3] = 1, rejected, 0
      reply[r + 4], reply[r + 5] = math.ceil(reject_reset), math.ceil(retry)
    else
      local best, best_remaining, best_reset = 1, -1, 0
      for i = 1, n do
        local key = KEYS[k + i]
        local iv = ARGV[a + 2 * i]
        local interval = tonumber(iv)
        local new_tat = next_tat[i]
        if tat_of[key] == nil then
          changed[#changed + 1] = key
        end
        tat_of[key], iv_of[key] = new_tat, iv
        local ttl = new_tat - now
        local remaining = math.floor((interval * ARGV[a + 2 * i + 1] - ttl) / interval)
        if best_remaining < 0 or remaining < best_remaining then
          best, best_remaining, best_reset = i, remaining, ttl
        end
      end
      reply[r + 1], reply[r + 2], reply[r + 3] = 0, best, best_remaining
      reply[r + 4], reply[r + 5] = math.ceil(best_reset), 0
    end
  end
  r = r + 5
  k = k + 1 + n
  a = a + 2 + 2 * n
end
for i = 1, #changed do
  local key = changed[i]
  local new_tat = tat_of[key]
  -- %.17g: Lua's own number format (%.14g) would round the ms fraction and drift a fast bucket.
  redis.call('SET', key, string.format('%.17g %s', new_tat, iv_of[key]), 'PX', math.ceil(new_tat - now) + 1000)
end
return reply
