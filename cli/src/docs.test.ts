import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { aDrill, aPromotion, aRateLimit, aRotation, at, NOW } from './fixtures.test-support.js';
import { renderOverview } from './render/list.js';
import { plain } from './style.js';
import { renderObject } from './verbs/status.js';

// docs/cli.md shows the status screens as the plugin prints them (piped, so without colour). The blocks
// between the generated markers are regenerated here from the real renderers; a change to a screen fails
// this test until the doc is regenerated: UPDATE_DOCS=1 npx vitest run --project unit cli/src/docs.test.ts
const doc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/cli.md');

const events = [
  {
    type: 'Normal',
    reason: 'KeyPublished',
    message: 'k3 published; signs at 2026-12-04T10:00:00Z',
    lastTimestamp: at('2026-12-02T10:00:00Z'),
  },
  {
    type: 'Warning',
    reason: 'ServiceNotLoaded',
    message: 'integration-gateway reports an older key set',
    lastTimestamp: at('2026-12-03T09:59:30Z'),
    count: 4,
  },
];

const screens: Record<string, string> = {
  overview: renderOverview([aRotation(), aPromotion(), aRateLimit(), aDrill()], false, NOW, plain),
  'status-skr': renderObject(aRotation(), events, NOW, plain),
  'status-spromo': renderObject(aPromotion(), [], NOW, plain),
  'status-trl': renderObject(aRateLimit(), [], NOW, plain, {
    requestsPerMinute: 412.6,
    rejectedPerMinute: 0,
  }),
  'status-drdrill': renderObject(aDrill(), [], NOW, plain),
};

function regenerate(text: string): string {
  let out = text;
  for (const [name, screen] of Object.entries(screens)) {
    const re = new RegExp(`(<!-- generated:${name} -->\\n)[\\s\\S]*?(<!-- /generated:${name} -->)`);
    if (!re.test(out)) throw new Error(`docs/cli.md has no block <!-- generated:${name} -->`);
    out = out.replace(
      re,
      (_m, open: string, close: string) => `${open}\`\`\`text\n${screen}\`\`\`\n${close}`,
    );
  }
  return out;
}

describe('docs/cli.md', () => {
  it('shows each status screen as the plugin prints it', () => {
    const current = readFileSync(doc, 'utf8');
    const fresh = regenerate(current);
    if (process.env.UPDATE_DOCS === '1' && fresh !== current) writeFileSync(doc, fresh);
    else expect(current, 'run UPDATE_DOCS=1 npx vitest run --project unit cli/src/docs.test.ts').toBe(fresh);
  });
});
