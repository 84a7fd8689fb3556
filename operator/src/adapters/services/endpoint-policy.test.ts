import { describe, expect, it } from 'vitest';
import { checkServiceUrl } from './endpoint-policy.js';

const allowed = {
  serviceNamespaces: ['novapos'],
  allowedOrigins: ['http://127.0.0.1:8085', 'http://localhost:*'],
};
const check = (url: string, purpose: 'status' | 'reload' = 'status', ns = 'team-a') =>
  checkServiceUrl(url, purpose, ns, allowed).allowed;

describe('which service URLs the operator may call', () => {
  it.each([
    'http://auth-service.novapos.svc:8085/keys/status',
    'http://auth-service.novapos.svc.cluster.local:8085/keys/status',
    'https://gw.team-a.svc/keys/status',
    'http://127.0.0.1:8085/keys/status',
    'http://localhost:40123/keys/status',
  ])('allows %s', (url) => expect(check(url)).toBe(true));

  it.each([
    ['a raw IP', 'http://10.0.0.1:8080/keys/status'],
    ['loopback on a port not listed', 'http://127.0.0.1:6379/keys/status'],
    ['the metadata service', 'http://169.254.169.254/keys/status'],
    ['a Service of a namespace not allowed', 'http://vault.vault.svc:8200/keys/status'],
    ['an external host', 'https://example.com/keys/status'],
    ['another path', 'http://auth-service.novapos.svc:8085/admin/users'],
    ['a query', 'http://auth-service.novapos.svc:8085/keys/status?x=1'],
    ['credentials', 'http://u:p@auth-service.novapos.svc:8085/keys/status'],
    ['another scheme', 'file:///etc/passwd'],
    ['a name that only looks like a Service', 'http://auth.novapos.svc.evil.example/keys/status'],
  ])('refuses %s', (_why, url) => expect(check(url)).toBe(false));

  it('checks the reload path for reload URLs', () => {
    expect(check('http://auth-service.novapos.svc:8085/keys/reload', 'reload')).toBe(true);
    expect(check('http://auth-service.novapos.svc:8085/keys/status', 'reload')).toBe(false);
  });

  it('says why without any detail of the address', () => {
    const d = checkServiceUrl('http://10.0.0.1:8080/keys/status', 'status', 'team-a', allowed);
    expect(d).toEqual({
      allowed: false,
      message: expect.stringContaining(
        'statusURL is not allowed: only Services of namespace team-a, novapos',
      ),
    });
  });
});
