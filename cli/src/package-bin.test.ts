import { accessSync, constants, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
};

describe('the package installs the plugin and its completion helper (npm install -g, npm link)', () => {
  it('puts kubectl-novapos (the bundle cli/build.mjs writes) on the PATH', () => {
    expect(pkg.bin['kubectl-novapos']).toBe('dist/cli/kubectl-novapos');
    expect(readFileSync(path.join(repoRoot, 'cli/build.mjs'), 'utf8')).toContain('kubectl-novapos');
  });

  it('puts kubectl_complete-novapos on the PATH too: an executable that asks the plugin for completions', () => {
    const helper = path.join(repoRoot, pkg.bin['kubectl_complete-novapos'] ?? '');
    accessSync(helper, constants.X_OK);
    const script = readFileSync(helper, 'utf8');
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script).toContain('exec kubectl-novapos __complete "$@"');
  });
});
