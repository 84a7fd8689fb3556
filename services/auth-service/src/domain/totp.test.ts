import { generate } from 'otplib';
import { describe, expect, it } from 'vitest';
import { epochSeconds, fixedClock } from './clock.js';
import { checkTotp, newTotpSecret, provisioningUri, TOTP_PERIOD_SECONDS } from './totp.js';

describe('TOTP', () => {
  const secret = newTotpSecret();
  const t = 1_900_000_020; // 20 s into a step

  it('accepts the current code and reports its step', async () => {
    const code = await generate({ secret, epoch: t });
    expect(await checkTotp({ secret, code, windowSteps: 1, epochSeconds: t })).toEqual({
      valid: true,
      timeStep: Math.floor(t / 30),
    });
  });

  it('accepts the previous step within the window, not two steps back', async () => {
    const prev = await generate({ secret, epoch: t - 30 });
    const old = await generate({ secret, epoch: t - 60 });
    expect((await checkTotp({ secret, code: prev, windowSteps: 1, epochSeconds: t })).valid).toBe(true);
    expect((await checkTotp({ secret, code: old, windowSteps: 1, epochSeconds: t })).valid).toBe(false);
  });

  it('flags a code for an already accepted step as a replay', async () => {
    const code = await generate({ secret, epoch: t });
    expect(
      await checkTotp({ secret, code, windowSteps: 1, epochSeconds: t, afterTimeStep: Math.floor(t / 30) }),
    ).toEqual({
      valid: false,
      replay: true,
    });
  });

  it('refuses malformed codes without calling the library', async () => {
    expect(await checkTotp({ secret, code: '12345a', windowSteps: 1 })).toEqual({
      valid: false,
      replay: false,
    });
  });

  it('builds an otpauth URI for the authenticator app', () => {
    expect(provisioningUri({ issuer: 'NovaPOS', account: 'a@b.c', secret })).toMatch(
      /^otpauth:\/\/totp\/NovaPOS:a%40b\.c\?.*secret=/,
    );
  });

  it('at a fixed clock, a code still works one step later (window of one step), not two steps later', async () => {
    const clock = fixedClock(1_900_000_020_000); // 20 s into a step
    const step = Math.floor(epochSeconds(clock) / TOTP_PERIOD_SECONDS);
    const code = await generate({ secret, epoch: epochSeconds(clock) });
    const at = () => checkTotp({ secret, code, windowSteps: 1, epochSeconds: epochSeconds(clock) });
    expect(await at()).toEqual({ valid: true, timeStep: step });
    clock.advance(TOTP_PERIOD_SECONDS * 1000);
    expect(await at()).toEqual({ valid: true, timeStep: step });
    clock.advance(TOTP_PERIOD_SECONDS * 1000);
    expect(await at()).toEqual({ valid: false, replay: false });
  });
});
