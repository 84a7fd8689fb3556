import { describe, expect, it } from 'vitest';
import { holdsScope, parseRoleScopes, parseRouteScopes, requiredScope, scopesOfRoles } from './scopes.js';

describe('route scopes', () => {
  const rules = parseRouteScopes(
    'GET /api/exports=exports:read, POST /api/exports=exports:write\n/api/orders=orders, /api/orders/admin=orders:admin',
  );

  it.each([
    ['GET', '/api/exports/1', 'exports:read'],
    ['POST', '/api/exports', 'exports:write'],
    ['DELETE', '/api/exports/1', undefined],
    ['GET', '/api/orders/1', 'orders'],
    ['GET', '/api/orders/admin/x', 'orders:admin'],
    ['GET', '/api/ordersx', undefined],
    ['GET', '/api/unlisted', undefined],
  ])('%s %s needs %s', (method, path, scope) => {
    expect(requiredScope(rules, method, path)).toBe(scope);
  });

  it('a method rule beats an any-method rule at the same prefix', () => {
    const r = parseRouteScopes('/api/x=any, GET /api/x=get');
    expect(requiredScope(r, 'GET', '/api/x')).toBe('get');
    expect(requiredScope(r, 'PUT', '/api/x')).toBe('any');
  });

  it.each([
    'orders',
    '/admin=x',
    '/api/x=UPPER',
    'get /api/x=x',
    '/api/../x=x',
    '/api//x=x',
    '/api/%2e=x',
    'GET /api/x y=z',
  ])('refuses the entry %s', (text) => {
    expect(() => parseRouteScopes(text)).toThrow(/GATEWAY_ROUTE_SCOPES/);
  });

  it('default deny: no scope, or an unlisted route, reaches nothing; * reaches everything', () => {
    expect(holdsScope([], 'orders')).toBe(false);
    expect(holdsScope(['orders'], undefined)).toBe(false);
    expect(holdsScope(['orders'], 'orders')).toBe(true);
    expect(holdsScope(['*'], undefined)).toBe(true);
  });
});

describe('role scopes', () => {
  it('maps roles to the union of their scopes', () => {
    const m = parseRoleScopes('support=orders exports:read, auditor=exports:read, admin=*');
    expect(scopesOfRoles(m, ['support', 'auditor'])).toEqual(['exports:read', 'orders']);
    expect(scopesOfRoles(m, ['support', 'admin'])).toEqual(['*']);
    expect(scopesOfRoles(m, ['user'])).toEqual([]);
    expect(scopesOfRoles(parseRoleScopes(''), ['admin'])).toEqual([]);
  });
  it('refuses malformed entries', () => {
    expect(() => parseRoleScopes('admin')).toThrow(/GATEWAY_ROLE_SCOPES/);
    expect(() => parseRoleScopes('admin=ALL')).toThrow(/GATEWAY_ROLE_SCOPES/);
  });
});
