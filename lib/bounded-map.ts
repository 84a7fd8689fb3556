/**
 * Bounded in-memory caches kept as a `Map` in insertion order (a hit is re-inserted to count as newest):
 * `dropOldest` removes the oldest entries until the map holds at most `max`. One rule for the services'
 * token, key, revocation and label caches.
 */
export function dropOldest<K, V>(map: Map<K, V>, max: number): void {
  if (map.size <= max) return;
  for (const key of map.keys()) {
    map.delete(key);
    if (map.size <= max) return;
  }
}
