import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { parseAllDocuments } from 'yaml';

export interface CrdManifestsProps {
  /** Folder of generated CRD YAML (the repository's `crds/`). A missing or empty folder adds nothing. */
  readonly dir: string;
}

interface CrdDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: { group?: string; names?: { plural?: string } };
}

/** Every CRD in `crds/`, read at synth time, so the chart ships exactly the committed schema. */
export class CrdManifests extends Construct {
  /** Plural resource names of the included CRDs, by group. */
  readonly resources: { group: string; plural: string }[] = [];

  constructor(scope: Construct, id: string, props: CrdManifestsProps) {
    super(scope, id);
    let files: string[] = [];
    try {
      files = readdirSync(props.dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort();
    } catch {
      files = [];
    }
    for (const file of files) {
      for (const doc of parseAllDocuments(readFileSync(path.join(props.dir, file), 'utf8'))) {
        const crd = doc.toJS() as CrdDoc | null;
        if (crd?.kind !== 'CustomResourceDefinition') continue;
        const { apiVersion, kind, metadata, ...rest } = crd;
        new ApiObject(this, crd.metadata.name, { apiVersion, kind, metadata, ...rest });
        if (crd.spec?.group && crd.spec.names?.plural)
          this.resources.push({ group: crd.spec.group, plural: crd.spec.names.plural });
      }
    }
  }
}
