/**
 * Vonage "secure callbacks" (design.md §1.6): the archive callback carries a JWT signed with HS256 and
 * the project's signature secret in its `Authorization` header. A service that acts on callbacks (for
 * example, starts decrypting the archive named in one) must check that signature first.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { KeyError } from '../errors.js';

export interface CallbackClaims {
  [claim: string]: unknown;
  iat?: number;
  exp?: number;
  nbf?: number;
}

export interface VerifyCallbackOptions {
  /** Seconds allowed between our clock and Vonage's (default 60). */
  clockToleranceSeconds?: number;
  /** The current time in milliseconds (for tests). */
  now?: number;
}

/**
 * Verifies the `Authorization` header of a signed Vonage callback and returns its claims.
 *
 * @example
 * ```ts
 * const claims = verifyCallbackToken(request.headers.authorization, process.env.VONAGE_SIGNATURE_SECRET!);
 * ```
 * @throws KeyError "invalid callback signature" (and the like) for anything but a well-formed, current
 *   HS256 token signed with `secret`. Messages do not say which byte was wrong.
 */
export function verifyCallbackToken(authorization: string | undefined, secret: string | Uint8Array, options: VerifyCallbackOptions = {}): CallbackClaims {
  if (typeof secret === 'string' ? secret === '' : secret.length === 0) throw new KeyError('empty callback signature secret');
  const token = (authorization ?? '').replace(/^Bearer\s+/i, '').trim();
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]+$/.test(part))) throw new KeyError('unsigned or malformed callback token');
  const [header, payload, signature] = parts as [string, string, string];
  const alg = (parseJsonPart(header) as { alg?: unknown }).alg;
  // Only HS256: a token may not choose its own algorithm ("none", or RS256 with the secret as a key).
  if (alg !== 'HS256') throw new KeyError(`callback token algorithm ${String(alg)} refused: only HS256 is accepted`);
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  // Constant-time: the comparison must not tell an attacker how many leading bytes were right.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new KeyError('invalid callback signature');
  const claims = parseJsonPart(payload) as CallbackClaims;
  const now = (options.now ?? Date.now()) / 1000;
  const tolerance = options.clockToleranceSeconds ?? 60;
  if (typeof claims.exp === 'number' && now > claims.exp + tolerance) throw new KeyError('callback token expired');
  if (typeof claims.nbf === 'number' && now < claims.nbf - tolerance) throw new KeyError('callback token not valid yet');
  return claims;
}

function parseJsonPart(part: string): unknown {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  } catch {
    // fall through
  }
  throw new KeyError('malformed callback token');
}
