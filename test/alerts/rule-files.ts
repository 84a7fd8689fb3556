import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ruleAreas } from '../../alerts/src/index.js';
import { ruleFileYaml, testProfile } from '../../alerts/src/render.js';

/**
 * The project's rules with every `for:` capped at `maxFor` (expressions, windows and thresholds unchanged),
 * written to a temporary directory for a test Prometheus. Returns the absolute paths.
 */
export function writeTestProfileRules(maxFor: string): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'novapos-rules-'));
  return ruleAreas.map((area) => {
    const file = path.join(dir, `${area.area}.rules.yaml`);
    writeFileSync(file, ruleFileYaml(testProfile(area, maxFor)));
    return file;
  });
}
