import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { describeError, errorClass, errorCode } from './errors.js';

describe('describeError', () => {
  it('gives the apiserver message of a Kubernetes API error', () => {
    const err = new ApiException(
      409,
      'Conflict',
      JSON.stringify({ message: 'the object has been modified' }),
      {},
    );
    expect(describeError(err)).toBe('HTTP 409: the object has been modified');
    expect(describeError(new ApiException(500, 'x', 'not json', {}))).toBe('HTTP 500: request failed');
  });
  it('gives an Error its message and anything else its string form', () => {
    expect(describeError(new TypeError('bad'))).toBe('bad');
    expect(describeError('plain')).toBe('plain');
    expect(describeError(undefined)).toBe('undefined');
  });
});

describe('errorClass and errorCode', () => {
  it('name the class and the string code only', () => {
    const err = Object.assign(new Error('token s3cret in a message'), { code: 'ECONNREFUSED' });
    expect(errorClass(err)).toBe('Error');
    expect(errorClass(new RangeError('x'))).toBe('RangeError');
    expect(errorCode(err)).toBe('ECONNREFUSED');
    expect(errorCode(Object.assign(new Error('x'), { code: 404 }))).toBeUndefined();
    expect(errorCode(null)).toBeUndefined();
  });
});
