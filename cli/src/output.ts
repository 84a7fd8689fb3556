import { stringify } from 'yaml';
import { CliError, ExitCode } from './errors.js';

export type OutputFormat = 'json' | 'yaml';

export function parseOutputFormat(value: string | undefined): OutputFormat | undefined {
  if (value === undefined) return undefined;
  if (value === 'json' || value === 'yaml') return value;
  throw new CliError(`unknown output format "${value}"`, ExitCode.usage, 'use -o json or -o yaml');
}

/** Without managedFields, as kubectl prints objects. */
function withoutManagedFields(obj: unknown): unknown {
  if (Array.isArray(obj)) return obj.map(withoutManagedFields);
  if (obj && typeof obj === 'object') {
    const o = obj as Record<string, unknown>;
    if (o.metadata && typeof o.metadata === 'object' && 'managedFields' in (o.metadata as object)) {
      const { managedFields: _, ...metadata } = o.metadata as Record<string, unknown>;
      return { ...o, metadata };
    }
    if (Array.isArray(o.items)) return { ...o, items: o.items.map(withoutManagedFields) };
  }
  return obj;
}

export function formatData(data: unknown, format: OutputFormat): string {
  const clean = withoutManagedFields(data);
  return format === 'json' ? `${JSON.stringify(clean, null, 2)}\n` : stringify(clean);
}
