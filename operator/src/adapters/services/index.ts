export * from './key-status-probe.js';
