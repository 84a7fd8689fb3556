import { describe, expect, it } from 'vitest';
import { type KeyPorts, keyPortsOf } from './key-ports.js';

describe('the ports of a referenced Service the operator calls', () => {
  const cases: [string, { httpPort?: number; adminPort?: number }, KeyPorts][] = [
    [
      'status on http and reload on admin when the Service names both (the gateway)',
      { httpPort: 8083, adminPort: 9083 },
      { status: 8083, reload: 9083 },
    ],
    [
      'both on admin when the Service has only an admin port (the audit-service)',
      { adminPort: 9087 },
      { status: 9087, reload: 9087 },
    ],
    [
      'both on http when the Service has only an http port',
      { httpPort: 8085 },
      { status: 8085, reload: 8085 },
    ],
    ['none when the Service names neither port', {}, { status: undefined, reload: undefined }],
  ];
  for (const [name, eps, want] of cases) {
    it(name, () => {
      expect(keyPortsOf(eps)).toEqual(want);
    });
  }
});
