/**
 * Vonage "secure callbacks": the archive callback carries a JWT signed with HS256 and the project's
 * signature secret in its `Authorization` header. A service that acts on callbacks (for example, starts
 * decrypting the archive named in one) must check it first.
 * Verification is jose's; this module only fixes the policy: HS256 only, `exp` required, a small clock
 * tolerance, and `payload_hash` (when the token has one) equal to the SHA-256 of the body.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { KeyError } from '../errors.js';

export interface CallbackClaims extends JWTPayload {
  /** Hex SHA-256 of the request body, when Vonage signed the body too. */
  payload_hash?: string;
}

export interface VerifyCallbackOptions {
  /**
   * The raw request body. Required when the token carries `payload_hash` (the token then vouches for
   * the body, and a body that does not match is refused).
   */
  body?: string | Uint8Array;
  /** Seconds allowed between our clock and Vonage's (default 30). */
  clockToleranceSeconds?: number;
  /** The current time in milliseconds (for tests). */
  now?: number;
}

const encoder = new TextEncoder();

/**
 * Verifies the `Authorization` header of a signed Vonage callback and returns its claims.
 *
 * @example
 * ```ts
 * const claims = await verifyCallbackToken(request.headers.authorization, secret, { body: rawBody });
 * ```
 * @throws KeyError for anything but a well-formed, current HS256 token signed with `secret` (and
 *   matching the body when it has `payload_hash`). Messages do not say which byte was wrong.
 */
export async function verifyCallbackToken(
  authorization: string | undefined,
  secret: string | Uint8Array,
  options: VerifyCallbackOptions = {},
): Promise<CallbackClaims> {
  const key = typeof secret === 'string' ? encoder.encode(secret) : secret;
  if (key.length === 0) throw new KeyError('empty callback signature secret');
  const token = (authorization ?? '').replace(/^Bearer\s+/i, '').trim();
  if (token === '') throw new KeyError('unsigned callback: no Authorization token');
  let claims: CallbackClaims;
  try {
    // Only HS256: a token may not choose its own algorithm ("none", or RS256 with the secret as a key).
    const verified = await jwtVerify<CallbackClaims>(token, key, {
      algorithms: ['HS256'],
      requiredClaims: ['exp'],
      clockTolerance: options.clockToleranceSeconds ?? 30,
      ...(options.now !== undefined ? { currentDate: new Date(options.now) } : {}),
    });
    claims = verified.payload;
  } catch (error) {
    throw callbackError(error);
  }
  if (claims.payload_hash !== undefined) checkPayloadHash(claims.payload_hash, options.body);
  return claims;
}

function checkPayloadHash(claimed: unknown, body: string | Uint8Array | undefined): void {
  if (body === undefined) throw new KeyError('callback token has payload_hash: pass the request body to verify it');
  if (typeof claimed !== 'string' || !/^[0-9a-fA-F]{64}$/.test(claimed)) throw new KeyError('malformed payload_hash in callback token');
  const actual = createHash('sha256').update(body).digest();
  // Constant-time, like the signature check: the comparison must not tell how much of it was right.
  if (!timingSafeEqual(actual, Buffer.from(claimed, 'hex'))) throw new KeyError('callback body does not match the signed payload_hash');
}

/** jose's error classes carry a stable `code`: map them to one-line KeyErrors. */
function callbackError(error: unknown): KeyError {
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new KeyError('callback token algorithm refused: only HS256 is accepted');
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return new KeyError('invalid callback signature');
  if (error instanceof joseErrors.JWTExpired) return new KeyError('callback token expired');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'exp') return new KeyError('callback token has no valid "exp" claim: refused');
    if (error.claim === 'nbf' || error.claim === 'iat') return new KeyError('callback token not valid yet');
    return new KeyError(`callback token claim "${error.claim}" is invalid`);
  }
  return new KeyError('malformed callback token');
}
