import type { TSchema } from '@sinclair/typebox';
import { stringify } from 'yaml';
import { CATEGORIES, GROUP, VERSION } from './meta.js';
import type { KindDefinition } from './schema.js';

/**
 * Turns a kind's TypeBox schema into its CustomResourceDefinition. The TypeBox objects are JSON Schema
 * already; this only rewrites the few constructs Kubernetes' structural schemas spell differently.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(x: Json | undefined): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Rewrites one TypeBox schema node into a structural-schema node:
 * - a union of literals becomes `type` + `enum` (Kubernetes has no `const`);
 * - a Record's `patternProperties` becomes `additionalProperties`;
 * - a property with a `default` is not `required`: the apiserver fills it in before validation, and
 *   `kubectl explain` should not call it required. (The TypeScript type keeps it non-optional: the
 *   operator always reads it defaulted.)
 */
function structural(node: Json): Json {
  if (Array.isArray(node)) return node.map(structural);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  const anyOf = node['anyOf'];
  if (Array.isArray(anyOf) && anyOf.length > 0 && anyOf.every((s) => isObject(s) && 'const' in s)) {
    const consts = anyOf as JsonObject[];
    const types = new Set(consts.map((s) => s['type']));
    if (types.size !== 1) throw new Error(`enum mixes types: ${JSON.stringify(anyOf)}`);
    const { anyOf: _drop, ...rest } = node;
    const values = consts.map((s) => s['const'] ?? null);
    const type =
      types.has('number') && values.every((v) => Number.isInteger(v))
        ? 'integer'
        : (consts[0]?.['type'] ?? null);
    return structural({ type, enum: values, ...rest });
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === 'patternProperties') {
      const entries = Object.values(value as JsonObject);
      if (entries.length !== 1) throw new Error('a map must have exactly one value schema');
      out['additionalProperties'] = structural(entries[0] ?? {});
    } else if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(value as JsonObject).map(([k, v]) => [k, structural(v)]));
    } else if (key === 'required') {
    } else if (key === 'x-kubernetes-validations' || key === 'enum' || key === 'default') {
      out[key] = value;
    } else {
      out[key] = structural(value);
    }
  }
  if (Array.isArray(node['required'])) {
    const props = isObject(node['properties']) ? node['properties'] : {};
    const required = (node['required'] as string[]).filter(
      (p) => !(isObject(props[p]) && 'default' in props[p]),
    );
    if (required.length) out['required'] = required;
  }
  return readingOrder(out);
}

/** `type` and `description` first, so the YAML reads like a hand-written CRD. */
function readingOrder(node: JsonObject): JsonObject {
  const { type, description, ...rest } = node;
  return {
    ...(type !== undefined ? { type } : {}),
    ...(description !== undefined ? { description } : {}),
    ...rest,
  };
}

/** The schema as plain JSON: TypeBox's symbol-keyed bookkeeping and `$id`s dropped. */
export function toOpenApi(schema: TSchema): JsonObject {
  const plain = JSON.parse(JSON.stringify(schema)) as JsonObject;
  return structural(plain) as JsonObject;
}

export function crdName(def: KindDefinition): string {
  return `${def.plural}.${GROUP}`;
}

export function customResourceDefinition(def: KindDefinition): JsonObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName(def) },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: [...CATEGORIES],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })) as unknown as Json,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: def.description,
              properties: {
                apiVersion: {
                  type: 'string',
                  description: 'APIVersion defines the versioned schema of this representation of an object.',
                },
                kind: {
                  type: 'string',
                  description:
                    'Kind is a string value representing the REST resource this object represents.',
                },
                metadata: { type: 'object' },
                spec: toOpenApi(def.spec),
                status: toOpenApi(def.status),
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
}

/** YAML text for a generated file: a header naming the generator and the source, then the object. */
export function generatedYaml(object: unknown, source: string): string {
  const header = [
    `# Generated by scripts/generate.ts (npm run generate) from ${source}.`,
    '# Do not edit: change the source and regenerate; a unit test fails when this file is out of date.',
  ].join('\n');
  return `${header}\n${stringify(object, { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

export function crdFileName(def: KindDefinition): string {
  return `${crdName(def)}.yaml`;
}
