import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { VaultClient, VaultError } from '../../lib/vault.js';
import { readOnlyToken } from './helpers.js';

/** lib/vault.ts against the real OpenBao: KV v2 with check-and-set, metadata, destroy, typed errors. */
describe('VaultClient (lib/vault.ts) on OpenBao', () => {
  const env = inject('env');
  let root: VaultClient;
  const dir = `novapos/test-vault-client-${randomBytes(4).toString('hex')}`;

  beforeAll(() => {
    root = new VaultClient({
      addr: env.vaults[0]!.addr,
      auth: { method: 'token', token: env.vaults[0]!.rootToken },
    });
  });

  it('writes with check-and-set and reports a mismatch as cas_mismatch, without the value in the message', async () => {
    const value = `s3cr3t-${randomBytes(8).toString('hex')}`;
    expect(await root.kvWrite('secret', `${dir}/a`, { value }, { cas: 0 })).toEqual({ version: 1 });
    const err = await root.kvWrite('secret', `${dir}/a`, { value }, { cas: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultError);
    expect((err as VaultError).code).toBe('cas_mismatch');
    expect((err as VaultError).message).not.toContain(value);
    expect(await root.kvWrite('secret', `${dir}/a`, { value: 'v2' }, { cas: 1 })).toEqual({ version: 2 });
    expect((await root.kvRead<{ value: string }>('secret', `${dir}/a`))?.data.value).toBe('v2');
    expect((await root.kvRead<{ value: string }>('secret', `${dir}/a`, 1))?.data.value).toBe(value);
  });

  it('destroys versions (key material gone, not just soft-deleted) and reads metadata', async () => {
    await root.kvDestroyVersions('secret', `${dir}/a`, [1]);
    expect(await root.kvRead('secret', `${dir}/a`, 1)).toBeUndefined();
    const meta = await root.kvMetadata('secret', `${dir}/a`);
    expect(meta?.currentVersion).toBe(2);
    expect(meta?.versions['1']?.destroyed).toBe(true);
    await root.kvWriteMetadata('secret', `${dir}/a`, { customMetadata: { source: 'test' } });
    expect((await root.kvMetadata('secret', `${dir}/a`))?.customMetadata).toEqual({ source: 'test' });
    expect(await root.kvList('secret', dir)).toEqual(['a']);
    await root.kvDeleteAll('secret', `${dir}/a`);
    expect(await root.kvRead('secret', `${dir}/a`)).toBeUndefined();
    expect(await root.kvMetadata('secret', `${dir}/a`)).toBeUndefined();
  });

  it('maps a policy refusal to forbidden and an unreachable server to unavailable', async () => {
    const limited = new VaultClient({
      addr: env.vaults[0]!.addr,
      auth: {
        method: 'token',
        token: await readOnlyToken(root, env.vaults[0]!.rootToken, `secret/${dir}/only-here`),
      },
    });
    await expect(limited.kvWrite('secret', `${dir}/b`, { x: 1 })).rejects.toMatchObject({
      code: 'forbidden',
      status: 403,
    });
    const nowhere = new VaultClient({
      addr: 'http://127.0.0.1:1',
      auth: { method: 'token', token: 't' },
      timeoutMs: 1000,
    });
    await expect(nowhere.kvRead('secret', 'x')).rejects.toMatchObject({ code: 'unavailable' });
  });
});
