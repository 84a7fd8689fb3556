import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

// The shared Redis and PostgreSQL are real servers: a Lua script runs inside Redis, SQL runs in PostgreSQL.
const env = inject('env');

describe('Redis', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(env.redisUrl!, { lazyConnect: false, maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('answers PING', async () => {
    expect(await redis.ping()).toBe('PONG');
  });

  it('runs a Lua script with EVAL, atomically against its own keys', async () => {
    const key = `smoke:eval:${process.pid}:${Date.now()}`;
    // Increments by ARGV[1] and sets a TTL in one step: the shape of a rate-limit script.
    const script = `
      local n = redis.call('INCRBY', KEYS[1], ARGV[1])
      redis.call('PEXPIRE', KEYS[1], ARGV[2])
      return {n, redis.call('PTTL', KEYS[1])}`;
    const first = (await redis.eval(script, 1, key, 5, 60_000)) as [number, number];
    const second = (await redis.eval(script, 1, key, 7, 60_000)) as [number, number];
    expect(first[0]).toBe(5);
    expect(second[0]).toBe(12);
    expect(second[1]).toBeGreaterThan(0);
    expect(second[1]).toBeLessThanOrEqual(60_000);
    await redis.del(key);
  });
});

describe('PostgreSQL', () => {
  it('runs SQL in a transaction and reports its own version', async () => {
    const client = new pg.Client({ connectionString: env.postgresUrl });
    await client.connect();
    try {
      const table = `smoke_${process.pid}_${Date.now()}`;
      await client.query('begin');
      await client.query(`create temporary table ${table} (id int primary key, name text not null)`);
      await client.query(`insert into ${table} values ($1, $2), ($3, $4)`, [1, 'alpha', 2, 'beta']);
      const { rows } = await client.query<{ names: string }>(
        `select string_agg(name, ',' order by id) as names from ${table}`,
      );
      await client.query('rollback');
      expect(rows[0]?.names).toBe('alpha,beta');
      const version = await client.query<{ server_version_num: string }>('show server_version_num');
      expect(Number(version.rows[0]?.server_version_num)).toBeGreaterThan(100_000);
      const db = await client.query<{ current_database: string }>('select current_database()');
      expect(db.rows[0]?.current_database).toBe('novapos');
    } finally {
      await client.end();
    }
  });
});
