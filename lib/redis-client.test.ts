import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedisClient, isCluster, parseClusterNodes, RedisClusterNodesError } from './redis-client.js';

describe('REDIS_CLUSTER_NODES', () => {
  it('is unset or empty for a single Redis', () => {
    expect(parseClusterNodes(undefined)).toBeUndefined();
    expect(parseClusterNodes('  ')).toBeUndefined();
  });

  it('takes comma-separated host:port seed nodes, IPv6 in brackets', () => {
    expect(parseClusterNodes('redis-0.redis:6379, redis-1.redis:6380,[::1]:7000')).toEqual([
      { host: 'redis-0.redis', port: 6379 },
      { host: 'redis-1.redis', port: 6380 },
      { host: '::1', port: 7000 },
    ]);
  });

  it.each(['redis-0', 'redis://redis-0:6379', 'redis-0:0', 'redis-0:70000', 'a:1,,b:2'])(
    'refuses %s, saying what the format is',
    (value) => {
      expect(() => parseClusterNodes(value)).toThrow(RedisClusterNodesError);
      expect(() => parseClusterNodes(value)).toThrow(/host:port/);
    },
  );
});

describe('createRedisClient', () => {
  it('makes a cluster client for cluster nodes and a plain one otherwise (no connection attempt kept)', () => {
    const single = createRedisClient({ url: 'redis://127.0.0.1:1/0', options: { lazyConnect: true } });
    const cluster = createRedisClient({
      url: 'redis://user:secret@ignored:1',
      clusterNodes: [{ host: '127.0.0.1', port: 1 }],
      options: { lazyConnect: true, enableAutoPipelining: true, commandTimeout: 500 },
    });
    try {
      expect(single).toBeInstanceOf(Redis);
      expect(isCluster(single)).toBe(false);
      expect(cluster).toBeInstanceOf(Cluster);
      const opts = (cluster as Cluster).options;
      expect(opts.scaleReads).toBe('master');
      expect(opts.enableAutoPipelining).toBe(true);
      // The URL gives the nodes' credentials, not an address.
      expect(opts.redisOptions).toMatchObject({ username: 'user', password: 'secret', commandTimeout: 500 });
      expect(opts.redisOptions).not.toHaveProperty('host');
    } finally {
      single.disconnect();
      cluster.disconnect();
    }
  });
});
