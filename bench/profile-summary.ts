// Summarises what bench/operator-scale.ts --profile wrote (bench/results/profile/): the operator's CPU profile
// (--cpu-prof) by self time per function and per package, and its heap snapshot (taken after a full GC) by
// retained-by-type self size.   npx tsx bench/profile-summary.ts [dir]
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';

const dir = path.resolve(process.argv[2] ?? 'bench/results/profile');
const files = readdirSync(dir);

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

// The operator runs as one bundle (as in the image): its source map says which package or file a function is from.
const maps = new Map<string, SourceMap | undefined>();
function sourceOf(url: string, line: number, column: number): string | undefined {
  if (!url.startsWith('file://')) return undefined;
  const file = new URL(url).pathname;
  if (!maps.has(file)) {
    const mapFile = `${file}.map`;
    maps.set(
      file,
      existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))) : undefined,
    );
  }
  const entry = maps.get(file)?.findEntry(line, column) as { originalSource?: string } | undefined;
  return entry?.originalSource;
}

/** Where a function lives: a package, a directory of this repository, or Node itself. */
function owner(url: string, line: number, column: number): string {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return 'node core';
  const source = sourceOf(url, line, column) ?? url;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  if (m) return m[1] as string;
  const repo = /(operator\/src\/[^/]+|lib|test\/runtime|bench)\//.exec(source);
  return repo ? (repo[1] as string) : source;
}

const pct = (x: number, total: number) => `${((100 * x) / total).toFixed(1)} %`;

for (const f of files.filter((x) => x.endsWith('.cpuprofile'))) {
  const prof = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as {
    nodes: CpuNode[];
    startTime: number;
    endTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (const [i, id] of prof.samples.entries())
    selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byOwner = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber, columnNumber } = n.callFrame;
    const name = functionName || '(anonymous)';
    const where = owner(url, lineNumber, columnNumber);
    const label = ['(idle)', '(program)', '(garbage collector)'].includes(name) ? name : `${name} [${where}]`;
    byFn.set(label, (byFn.get(label) ?? 0) + us);
    const group = ['(idle)', '(program)', '(garbage collector)'].includes(name) ? name : where;
    byOwner.set(group, (byOwner.get(group) ?? 0) + us);
  }
  const busy = total - (byOwner.get('(idle)') ?? 0);
  console.log(
    `CPU profile ${f}: ${(total / 1e6).toFixed(1)} s wall, ${(busy / 1e6).toFixed(1)} s on the CPU`,
  );
  console.log('  by owner (share of CPU time):');
  for (const [k, v] of [...byOwner]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12))
    console.log(`    ${pct(v, busy).padStart(7)}  ${k}`);
  console.log('  top functions by self time:');
  for (const [k, v] of [...byFn]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20))
    console.log(`    ${pct(v, busy).padStart(7)}  ${k}`);
}

for (const f of files.filter((x) => x.endsWith('.heapsnapshot'))) {
  const snap = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const stride = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const byType = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + iType] as number] as string;
    const name = snap.strings[snap.nodes[i + iName] as number] as string;
    const size = snap.nodes[i + iSize] as number;
    total += size;
    const label =
      type === 'object' || type === 'closure'
        ? `${type} ${name}`
        : type === 'string' || type === 'concatenated string' || type === 'sliced string'
          ? 'strings'
          : `(${type}) ${type === 'hidden' || type === 'code' || type === 'array' ? name.slice(0, 40) : ''}`.trim();
    const e = byType.get(label) ?? { count: 0, bytes: 0 };
    e.count += 1;
    e.bytes += size;
    byType.set(label, e);
  }
  console.log(
    `Heap snapshot ${f}: ${(total / 1024 / 1024).toFixed(1)} MiB live (self sizes, after a full GC)`,
  );
  for (const [k, v] of [...byType].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 25))
    console.log(
      `    ${(v.bytes / 1024 / 1024).toFixed(2).padStart(7)} MiB ${pct(v.bytes, total).padStart(7)}  ${String(v.count).padStart(8)}  ${k}`,
    );
}
