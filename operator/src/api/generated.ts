import { stringify } from 'yaml';
import {
  approvedByBinding,
  approvedByPolicy,
  approversOnlyBinding,
  approversOnlyPolicy,
  emergencyScopedBinding,
  emergencyScopedPolicy,
} from './admission.js';
import { crdFileName, customResourceDefinition, generatedYaml } from './crd.js';
import { KINDS } from './v1alpha1/index.js';

/** A file `npm run generate` writes, relative to the repository root. */
export interface GeneratedFile {
  readonly path: string;
  readonly content: string;
}

/** Folders the generator owns: any other file in them is stale. */
export const GENERATED_DIRS = ['crds', 'operator/admission'] as const;

function multiDocument(objects: readonly unknown[], source: string): string {
  const [first, ...rest] = objects;
  return [generatedYaml(first, source), ...rest.map((o) => stringify(o, { lineWidth: 0 }))].join('---\n');
}

/** Every generated file, in a fixed order; the same input always gives byte-identical output. */
export function generatedFiles(): GeneratedFile[] {
  return [
    ...KINDS.map((def) => ({
      path: `crds/${crdFileName(def)}`,
      content: generatedYaml(customResourceDefinition(def), def.source),
    })),
    {
      path: 'operator/admission/secretpromotion-approved-by.yaml',
      content: multiDocument([approvedByPolicy, approvedByBinding], 'operator/src/api/admission.ts'),
    },
    {
      path: 'operator/admission/secretpromotion-approvers-only.yaml',
      content: multiDocument([approversOnlyPolicy, approversOnlyBinding], 'operator/src/api/admission.ts'),
    },
    {
      path: 'operator/admission/signingkeyrotation-emergency-scoped.yaml',
      content: multiDocument(
        [emergencyScopedPolicy, emergencyScopedBinding],
        'operator/src/api/admission.ts',
      ),
    },
  ];
}
