import { Annotations, APPROVERS_GROUP, GROUP, VERSION } from './meta.js';

/**
 * Admission policies, evaluated in the apiserver (no webhook to run).
 *
 * SecretPromotion approvals:
 * - a MutatingAdmissionPolicy stamps security.novapos.io/approved-by with the requesting user whenever
 *   approve-plan is set or changed, keeps the previous stamp otherwise, and so overwrites or removes any
 *   approved-by a user typed;
 * - a ValidatingAdmissionPolicy lets only members of novapos:approvers (or system:masters, break-glass)
 *   set or change approve-plan.
 * SigningKeyRotation emergencies:
 * - a ValidatingAdmissionPolicy refuses an emergency annotation whose value is not the rotate-now value of
 *   the same write (`"true"` included): an emergency applies to that one rotation only, so one left behind
 *   can never make a later routine rotate-now skip the lead time.
 * All are GA (admissionregistration.k8s.io/v1) in Kubernetes 1.36.
 */

const key = (annotation: string) => `'${annotation}'`;

/** CEL variables shared by both policies. oldObject is null on CREATE. */
const variables = [
  {
    name: 'approval',
    expression: `object.metadata.?annotations[?${key(Annotations.approvePlan)}].orValue('')`,
  },
  {
    name: 'oldApproval',
    expression: `oldObject == null ? '' : oldObject.metadata.?annotations[?${key(Annotations.approvePlan)}].orValue('')`,
  },
];

const stampVariables = [
  {
    name: 'hasStamp',
    expression: `object.metadata.?annotations[?${key(Annotations.approvedBy)}].hasValue()`,
  },
  { name: 'stamp', expression: `object.metadata.?annotations[?${key(Annotations.approvedBy)}].orValue('')` },
  {
    name: 'oldHasStamp',
    expression: `oldObject != null && oldObject.metadata.?annotations[?${key(Annotations.approvedBy)}].hasValue()`,
  },
  {
    name: 'oldStamp',
    expression: `oldObject == null ? '' : oldObject.metadata.?annotations[?${key(Annotations.approvedBy)}].orValue('')`,
  },
  // A new or changed approval is stamped with the requester; an unchanged one keeps its stamp.
  { name: 'approvalChanged', expression: 'variables.approval != variables.oldApproval' },
  {
    name: 'desiredPresent',
    expression: "variables.approval != '' && (variables.approvalChanged || variables.oldHasStamp)",
  },
  {
    name: 'desired',
    expression: 'variables.approvalChanged ? request.userInfo.username : variables.oldStamp',
  },
];

const stampPath = `'/metadata/annotations/' + jsonpatch.escapeKey(${key(Annotations.approvedBy)})`;

const matchConstraints = {
  resourceRules: [
    {
      apiGroups: [GROUP],
      apiVersions: [VERSION],
      operations: ['CREATE', 'UPDATE'],
      resources: ['secretpromotions'],
    },
  ],
};

export const APPROVED_BY_POLICY = `secretpromotion-approved-by.${GROUP}`;
export const APPROVERS_ONLY_POLICY = `secretpromotion-approvers-only.${GROUP}`;

export const approvedByPolicy = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingAdmissionPolicy',
  metadata: { name: APPROVED_BY_POLICY },
  spec: {
    failurePolicy: 'Fail',
    reinvocationPolicy: 'IfNeeded',
    matchConstraints,
    variables: [...variables, ...stampVariables],
    mutations: [
      {
        patchType: 'JSONPatch',
        jsonPatch: {
          expression: [
            'variables.desiredPresent',
            `  ? (variables.hasStamp && variables.stamp == variables.desired ? [] : [JSONPatch{op: 'add', path: ${stampPath}, value: variables.desired}])`,
            `  : (variables.hasStamp ? [JSONPatch{op: 'remove', path: ${stampPath}}] : [])`,
          ].join('\n'),
        },
      },
    ],
  },
};

export const approvedByBinding = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingAdmissionPolicyBinding',
  metadata: { name: APPROVED_BY_POLICY },
  spec: { policyName: APPROVED_BY_POLICY },
};

export const approversOnlyPolicy = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingAdmissionPolicy',
  metadata: { name: APPROVERS_ONLY_POLICY },
  spec: {
    failurePolicy: 'Fail',
    matchConstraints,
    variables,
    validations: [
      {
        expression: `variables.approval == variables.oldApproval || variables.approval == '' || '${APPROVERS_GROUP}' in request.userInfo.groups || 'system:masters' in request.userInfo.groups`,
        messageExpression: `'only members of ${APPROVERS_GROUP} may set ${Annotations.approvePlan}; ' + request.userInfo.username + ' is not one'`,
        reason: 'Forbidden',
      },
    ],
  },
};

export const approversOnlyBinding = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingAdmissionPolicyBinding',
  metadata: { name: APPROVERS_ONLY_POLICY },
  spec: { policyName: APPROVERS_ONLY_POLICY, validationActions: ['Deny'] },
};

export const EMERGENCY_SCOPED_POLICY = `signingkeyrotation-emergency-scoped.${GROUP}`;

export const emergencyScopedPolicy = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingAdmissionPolicy',
  metadata: { name: EMERGENCY_SCOPED_POLICY },
  spec: {
    failurePolicy: 'Fail',
    matchConstraints: {
      resourceRules: [
        {
          apiGroups: [GROUP],
          apiVersions: [VERSION],
          operations: ['CREATE', 'UPDATE'],
          resources: ['signingkeyrotations'],
        },
      ],
    },
    variables: [
      {
        name: 'emergency',
        expression: `object.metadata.?annotations[?${key(Annotations.emergency)}].orValue('')`,
      },
      {
        name: 'oldEmergency',
        expression: `oldObject == null ? '' : oldObject.metadata.?annotations[?${key(Annotations.emergency)}].orValue('')`,
      },
      {
        name: 'rotateNow',
        expression: `object.metadata.?annotations[?${key(Annotations.rotateNow)}].orValue('')`,
      },
    ],
    validations: [
      {
        // Unchanged (a leftover the controller ignores), removed, or naming this write's rotate-now value.
        expression:
          "variables.emergency == variables.oldEmergency || variables.emergency == '' || variables.emergency == variables.rotateNow",
        messageExpression: `'${Annotations.emergency} applies to one rotation: give it the same value as ${Annotations.rotateNow} in the same write, e.g. kubectl annotate skr NAME ${Annotations.rotateNow}=V ${Annotations.emergency}=V (or kubectl novapos rotate skr/NAME --emergency); got "' + variables.emergency + '" with ${Annotations.rotateNow}="' + variables.rotateNow + '"'`,
        reason: 'Invalid',
      },
    ],
  },
};

export const emergencyScopedBinding = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingAdmissionPolicyBinding',
  metadata: { name: EMERGENCY_SCOPED_POLICY },
  spec: { policyName: EMERGENCY_SCOPED_POLICY, validationActions: ['Deny'] },
};
