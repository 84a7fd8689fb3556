import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { parseAllDocuments } from 'yaml';

export interface AdmissionPoliciesProps {
  /** Folder of generated admission policy YAML (the repository's `operator/admission/`). */
  readonly dir: string;
}

/**
 * The admission policies that record who approved a SecretPromotion plan (a MutatingAdmissionPolicy stamps
 * `security.novapos.io/approved-by` from the request's user) and restrict approvals to approvers. Without
 * them an approval is never stamped, and the controller refuses to apply it.
 */
export class AdmissionPolicies extends Construct {
  constructor(scope: Construct, id: string, props: AdmissionPoliciesProps) {
    super(scope, id);
    const files = readdirSync(props.dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
    for (const file of files) {
      for (const doc of parseAllDocuments(readFileSync(path.join(props.dir, file), 'utf8'))) {
        const obj = doc.toJS() as { apiVersion: string; kind: string; metadata: { name: string } } | null;
        if (!obj?.kind) continue;
        const { apiVersion, kind, metadata, ...rest } = obj;
        new ApiObject(this, `${kind}-${metadata.name}`, { apiVersion, kind, metadata, ...rest });
      }
    }
  }
}
