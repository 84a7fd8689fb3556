import type { Static } from '@sinclair/typebox';
import { type Request, type Response, Router } from 'express';
import type { AuthService } from '../domain/auth-service.js';
import { AppError } from '../domain/errors.js';
import type { Schemas } from './api.js';
import { bearer, bodyAs, ctxOf, locals, requireTenant } from './context.js';

/** Login, sessions and registration (runbooks 000, 003, 004). */
export function authRoutes(service: AuthService): Router {
  const r = Router();
  r.use(requireTenant);

  r.post('/login', async (req, res) => {
    let body: Static<typeof Schemas.LoginRequest>;
    try {
      // The body's shape is checked here, against the schema the OpenAPI document publishes: 400
      // invalid_request with the first wrong field, before any rate limit, lookup or argon2 work.
      body = bodyAs(req, 'LoginRequest');
    } catch (err) {
      service.countInvalidLogin();
      throw err;
    }
    const out = await service.login(ctxOf(req, res), body);
    if ('enrollment' in out) {
      const err = new AppError('mfa_enrollment_required');
      res.status(err.status).json({
        error: { code: err.code, message: err.message, requestId: locals(res).requestId },
        enrollmentToken: out.enrollment.enrollmentToken,
        expiresIn: out.enrollment.expiresIn,
      });
      return;
    }
    res.json(out);
  });

  r.post('/refresh', async (req, res) => {
    res.json(await service.refresh(ctxOf(req, res), bodyAs(req, 'RefreshRequest')));
  });

  r.post('/logout', async (req, res) => {
    await service.logout(ctxOf(req, res), bodyAs(req, 'RefreshRequest'));
    res.status(204).end();
  });

  r.post('/logout-all', async (req, res) => {
    const ctx = ctxOf(req, res);
    const p = await service.authenticate(ctx, bearer(req));
    res.json({ revokedSessions: await service.logoutAll(ctx, p) });
  });

  // Account self-service (access token): each proves the user again before it changes anything.
  r.post('/password/change', async (req, res) => {
    const ctx = ctxOf(req, res);
    const p = await service.authenticate(ctx, bearer(req));
    res.json(await service.changePassword(ctx, p, bodyAs(req, 'PasswordChangeRequest')));
  });

  r.post('/register-first', async (req, res) => {
    const bootstrapToken = req.get('x-bootstrap-token');
    const body = bodyAs(req, 'RegisterFirstRequest');
    res.status(201).json({ user: await service.registerFirst(ctxOf(req, res), { ...body, bootstrapToken }) });
  });

  r.post('/register', async (req, res) => {
    const ctx = ctxOf(req, res);
    const p = await service.authenticate(ctx, bearer(req));
    res.status(201).json({ user: await service.register(ctx, p, bodyAs(req, 'RegisterRequest')) });
  });

  // Users of the tenant (admin with MFA): a role change or a deletion ends the user's tokens at once.
  r.put('/users/:id/roles', async (req, res) => {
    const ctx = ctxOf(req, res);
    const p = await service.authenticate(ctx, bearer(req));
    res.json({
      user: await service.setUserRoles(ctx, p, {
        userId: String(req.params['id']),
        roles: bodyAs(req, 'RolesRequest').roles,
      }),
    });
  });
  r.delete('/users/:id', async (req, res) => {
    const ctx = ctxOf(req, res);
    const p = await service.authenticate(ctx, bearer(req));
    await service.deleteUser(ctx, p, String(req.params['id']));
    res.status(204).end();
  });

  r.put('/tenant/settings', async (req, res) => {
    const ctx = ctxOf(req, res);
    const p = await service.authenticate(ctx, bearer(req));
    res.json(await service.setTenantSettings(ctx, p, bodyAs(req, 'TenantSettings')));
  });

  // Self-service and required-enrollment MFA setup (seed 004 names both pairs).
  const start = async (req: Request, res: Response, route: string) => {
    const ctx = ctxOf(req, res);
    await service.limitMfa(ctx);
    const p = await service.authenticate(ctx, bearer(req), { allowEnrollment: true });
    res.json(await service.mfaEnrollStart(ctx, p, { ...bodyAs(req, 'EnrollStartRequest'), route }));
  };
  const complete = async (req: Request, res: Response, route: string) => {
    const ctx = ctxOf(req, res);
    await service.limitMfa(ctx);
    const p = await service.authenticate(ctx, bearer(req), { allowEnrollment: true });
    res.json(await service.mfaEnrollComplete(ctx, p, { ...bodyAs(req, 'CodeRequest'), route }));
  };
  r.post('/mfa/enroll/start', (req, res) => start(req, res, '/mfa/enroll/start'));
  r.post('/mfa/setup', (req, res) => start(req, res, '/mfa/setup'));
  r.post('/mfa/enroll/complete', (req, res) => complete(req, res, '/mfa/enroll/complete'));
  r.post('/mfa/enable', (req, res) => complete(req, res, '/mfa/enable'));

  r.post('/mfa/recovery-codes/regenerate', async (req, res) => {
    const ctx = ctxOf(req, res);
    await service.limitMfa(ctx);
    const p = await service.authenticate(ctx, bearer(req));
    res.json(await service.regenerateRecoveryCodes(ctx, p, bodyAs(req, 'CodeRequest')));
  });
  r.post('/mfa/disable', async (req, res) => {
    const ctx = ctxOf(req, res);
    await service.limitMfa(ctx);
    const p = await service.authenticate(ctx, bearer(req));
    res.json(await service.disableMfa(ctx, p, bodyAs(req, 'MfaDisableRequest')));
  });

  // API keys: shown once at creation; the gateway validates them from the same database.
  r.post('/api-keys', async (req, res) => {
    const ctx = ctxOf(req, res);
    const p = await service.authenticate(ctx, bearer(req));
    res.status(201).json(await service.createApiKey(ctx, p, bodyAs(req, 'ApiKeyRequest')));
  });
  r.get('/api-keys', async (req, res) => {
    const ctx = ctxOf(req, res);
    const p = await service.authenticate(ctx, bearer(req));
    res.json({ apiKeys: await service.listApiKeys(ctx, p) });
  });
  r.delete('/api-keys/:id', async (req, res) => {
    const ctx = ctxOf(req, res);
    const p = await service.authenticate(ctx, bearer(req));
    await service.revokeApiKey(ctx, p, String(req.params['id']));
    res.status(204).end();
  });
  return r;
}
