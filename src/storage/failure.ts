/**
 * Turns what a store answered (HTTP status plus the provider's error code) into one of our
 * outcomes: not found, access denied, object changed, transient (retry), or plain storage failure.
 * One table for S3, Azure and https so the three adapters agree on what is retried.
 */
import { StorageError } from '../errors.js';
import type { Failure } from './retry.js';

/** What to tell the user to check, per provider. */
export interface FailureHints {
  /** e.g. "the bucket name and key". */
  notFound: string;
  /** e.g. "the AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID) and the bucket policy". */
  accessDenied: string;
}

const notFoundCodes = new Set(['NoSuchKey', 'NoSuchBucket', 'NotFound', 'BlobNotFound', 'ContainerNotFound', 'ResourceNotFound']);
const accessDeniedCodes = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationResourceTypeMismatch',
  'NoAuthenticationInformation',
]);
const changedCodes = new Set(['PreconditionFailed', 'ConditionNotMet']);
const transientCodes = new Set([
  'SlowDown',
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'ServerBusy',
  'OperationTimedOut',
  'InternalServerError',
  // The SDK corrects its clock offset from this answer, so the next attempt is signed right.
  'RequestTimeTooSkewed',
]);

/** Classifies an HTTP answer from the store about the object or store called `name`. */
export function classifyStatus(status: number | undefined, code: string | undefined, name: string, hints: FailureHints, cause?: unknown): Failure {
  // An answer without a body (every HEAD) has no error code: the SDKs then say "Unknown" or repeat
  // the status, which tells the user nothing.
  const knownCode = code !== undefined && code !== 'Unknown' && code !== String(status) ? code : undefined;
  const detail = [status, knownCode].filter((part) => part !== undefined).join(' ');
  if (status === 404 || (code !== undefined && notFoundCodes.has(code))) {
    const what = code === 'NoSuchBucket' ? 'bucket not found' : code === 'ContainerNotFound' ? 'container not found' : 'not found';
    return { transient: false, error: new StorageError(`${name}: ${what}; check ${hints.notFound}`, { code: 'ERR_NOT_FOUND', cause }) };
  }
  if (status === 401 || status === 403 || (code !== undefined && accessDeniedCodes.has(code))) {
    return {
      transient: false,
      error: new StorageError(`${name}: access denied (${detail}); check ${hints.accessDenied}`, { code: 'ERR_ACCESS_DENIED', cause }),
    };
  }
  if (status === 412 || (code !== undefined && changedCodes.has(code))) {
    return { transient: false, error: objectChanged(name, cause) };
  }
  if (status === 408 || status === 429 || (status !== undefined && status >= 500) || (code !== undefined && transientCodes.has(code))) {
    return { transient: true, error: new StorageError(`${name}: the store answered ${detail}`, { cause }) };
  }
  return { transient: false, error: new StorageError(`${name}: request failed (${detail || 'no status'})`, { cause }) };
}

/** The object's ETag no longer matches the one seen when the download started. */
export function objectChanged(name: string, cause?: unknown): StorageError {
  return new StorageError(`${name}: the object was replaced during the download; run the command again`, { cause });
}
