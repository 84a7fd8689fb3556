export * from './endpoint-policy.js';
export * from './key-status-probe.js';
export * from './service-endpoints.js';
