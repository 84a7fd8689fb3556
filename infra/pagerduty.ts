import * as pagerduty from '@pulumi/pagerduty';
import * as pulumi from '@pulumi/pulumi';
import type { StackConfig, TeamConfig, TeamName } from './config.js';

/**
 * PagerDuty as code, one set per team (security, platform): a team, an optional on-call schedule, an
 * escalation policy (responders or their schedule first, then the escalation contacts), a service, and the
 * service's Events API v2 integration. Its integration key is the routing key Alertmanager pages with; it
 * leaves this module only as a Pulumi secret.
 *
 * Users are looked up by email (they are members of the PagerDuty account already, managed by SSO); the
 * provider authenticates with the `pagerduty:token` secret.
 */

export const EVENTS_API_V2_VENDOR = 'Events API V2';

export interface TeamPaging {
  readonly serviceId: pulumi.Output<string>;
  readonly escalationPolicyId: pulumi.Output<string>;
  /** The Events v2 integration key: always a secret Output. */
  readonly routingKey: pulumi.Output<string>;
}

const titles: Record<TeamName, string> = { security: 'Security', platform: 'Platform' };

function userIds(emails: readonly string[], parent: pulumi.Resource): pulumi.Output<string>[] {
  return emails.map((email) => pulumi.output(pagerduty.getUser({ email }, { parent })).apply((u) => u.id));
}

export class TeamPagerDuty extends pulumi.ComponentResource implements TeamPaging {
  readonly serviceId: pulumi.Output<string>;
  readonly escalationPolicyId: pulumi.Output<string>;
  readonly routingKey: pulumi.Output<string>;

  constructor(
    team: TeamName,
    args: {
      readonly environment: string;
      readonly team: TeamConfig;
      readonly vendorId: pulumi.Input<string>;
    },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super('novapos:pagerduty:TeamPagerDuty', team, {}, opts);
    const child = { parent: this };
    const label = `NovaPOS ${titles[team]} (${args.environment})`;
    const pdTeam = new pagerduty.Team(
      team,
      { name: label, description: `On-call for NovaPOS ${team} alerts` },
      child,
    );
    const responders = userIds(args.team.responders, this);
    const escalation = userIds(args.team.escalation, this);

    const firstLevel = args.team.schedule
      ? (() => {
          const s = args.team.schedule;
          const schedule = new pagerduty.Schedule(
            team,
            {
              name: `${label} on-call`,
              timeZone: s.timeZone,
              teams: [pdTeam.id],
              layers: [
                {
                  name: 'Primary',
                  start: s.start,
                  rotationVirtualStart: s.start,
                  rotationTurnLengthSeconds: s.rotationHours * 3600,
                  users: responders,
                },
              ],
            },
            child,
          );
          return [{ type: 'schedule_reference', id: schedule.id }];
        })()
      : responders.map((id) => ({ type: 'user_reference', id }));

    const policy = new pagerduty.EscalationPolicy(
      team,
      {
        name: `${label} escalation`,
        numLoops: args.team.numLoops,
        teams: pdTeam.id,
        rules: [
          { escalationDelayInMinutes: args.team.escalationDelayMinutes, targets: firstLevel },
          {
            escalationDelayInMinutes: args.team.escalationDelayMinutes,
            targets: escalation.map((id) => ({ type: 'user_reference', id })),
          },
        ],
      },
      child,
    );
    const service = new pagerduty.Service(
      team,
      {
        name: label,
        description: `Critical (P0/P1) NovaPOS ${team} alerts from Alertmanager`,
        escalationPolicy: policy.id,
        alertCreation: 'create_alerts_and_incidents',
        acknowledgementTimeout: 'null',
        autoResolveTimeout: 'null',
      },
      child,
    );
    const integration = new pagerduty.ServiceIntegration(
      team,
      { name: 'Alertmanager (Events API v2)', service: service.id, vendor: args.vendorId },
      // The provider does not mark the key sensitive; the engine must encrypt it in the state.
      { ...child, additionalSecretOutputs: ['integrationKey'] },
    );

    this.serviceId = service.id;
    this.escalationPolicyId = policy.id;
    this.routingKey = pulumi.secret(integration.integrationKey);
    this.registerOutputs({ serviceId: this.serviceId, escalationPolicyId: this.escalationPolicyId });
  }
}

/** Everything PagerDuty for the stack, or undefined when the stack does not manage PagerDuty. */
export function createPagerDuty(cfg: StackConfig): Record<TeamName, TeamPagerDuty> | undefined {
  if (!cfg.pagerduty.enabled) return undefined;
  const vendorId = pulumi.output(pagerduty.getVendor({ name: EVENTS_API_V2_VENDOR })).apply((v) => v.id);
  const make = (team: TeamName) =>
    new TeamPagerDuty(team, { environment: cfg.environment, team: cfg.pagerduty.teams[team], vendorId });
  return { security: make('security'), platform: make('platform') };
}
