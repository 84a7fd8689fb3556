import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('writes JSON records with the component name and level label', () => {
    const { lines, destination } = capture();
    createLogger({ component: 'operator', destination }).info({ kind: 'SigningKeyRotation' }, 'reconciled');
    const record = JSON.parse(lines[0]!);
    expect(record).toMatchObject({
      component: 'operator',
      level: 'info',
      kind: 'SigningKeyRotation',
      msg: 'reconciled',
    });
  });

  it('redacts secret fields at the top level and nested two deep', () => {
    const { lines, destination } = capture();
    createLogger({ component: 'auth-service', destination }).warn(
      {
        password: 'hunter2-secret',
        req: { headers: { authorization: 'Bearer eyJsecret' } },
        key: { privateJwk: { d: 'xyz-secret' } },
      },
      'login',
    );
    expect(lines[0]).not.toMatch(/hunter2-secret|eyJsecret|xyz-secret/);
    expect(lines[0]).toContain('[redacted]');
  });
});
