import { describe, expect, it } from 'vitest';
import { countersFromText } from './gateway-metrics.js';

const metrics = (lines: string[]) => `${lines.join('\n')}\n`;

describe('countersFromText (the drill abort guard reading the gateway)', () => {
  it('counts every request, and 5xx, 401 and 403 as errors', () => {
    const text = metrics([
      '# TYPE gateway_request_duration_seconds histogram',
      'gateway_request_duration_seconds_count{route="/api",status="200"} 90',
      'gateway_request_duration_seconds_count{route="/api",status="401"} 3',
      'gateway_request_duration_seconds_count{route="/api",status="403"} 2',
      'gateway_request_duration_seconds_count{route="/api",status="502"} 1',
      'gateway_request_duration_seconds_count{route="/api",status="404"} 4',
      'gateway_request_duration_seconds_bucket{route="/api",status="500",le="0.1"} 99',
    ]);
    expect(countersFromText(text)).toEqual({ requests: 100, errors: 6 });
  });

  it('counts 429 too_many_auth_failures (failure budget spent) as errors, other 429s not', () => {
    const text = metrics([
      'gateway_request_duration_seconds_count{route="/api",status="200"} 10',
      'gateway_request_duration_seconds_count{route="/api",status="429"} 12',
      'gateway_auth_throttled_total{reason="failure_budget"} 7',
      'gateway_auth_throttled_total{reason="store_unavailable"} 5',
    ]);
    expect(countersFromText(text)).toEqual({ requests: 22, errors: 7 });
  });

  it('reads nothing from text without the gateway metrics', () => {
    expect(countersFromText('up 1\n')).toEqual({ requests: 0, errors: 0 });
  });
});
