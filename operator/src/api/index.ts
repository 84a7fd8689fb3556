export * from './conditions.js';
export * from './meta.js';
export * from './v1alpha1/index.js';
export * from './validation.js';
