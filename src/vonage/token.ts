/**
 * The two ways to authenticate to the Vonage Video REST API, and the JWT each one sends (signed with
 * jose). Sources: tokbox.com/developer/rest/#authentication (legacy OpenTok project: HS256 with the
 * project API secret in `X-OPENTOK-AUTH`, claims `iss`, `ist: "project"`, `iat`, `exp` at most five
 * minutes ahead, `jti`) and developer.vonage.com/en/video/guides/authentication plus the Vonage Node
 * SDK's `@vonage/jwt` (application: RS256 with the application's private key, `Authorization: Bearer`,
 * claims `application_id`, `iat`, `exp`, `jti`).
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

export type VonageCredentials =
  | {
      kind: 'project';
      /** The OpenTok project API key (numeric, also the project id in URLs and object keys). */
      apiKey: string;
      apiSecret: string;
    }
  | {
      kind: 'application';
      /** The Vonage application id (a UUID, the project id in URLs). */
      applicationId: string;
      privateKey: KeyObject;
    };

/** Base URLs of the two forms (`--api-url` / `VONAGE_VIDEO_API_URL` replace them). */
export const defaultApiUrls = {
  project: 'https://api.opentok.com',
  application: 'https://video.api.vonage.com',
} as const;

/** Lifetime of the tokens we sign: the OpenTok documentation allows at most five minutes. */
export const TOKEN_LIFETIME_SECONDS = 180;

/** The project id in `/v2/project/<id>/…`: the API key, or the application id. */
export function projectIdOf(credentials: VonageCredentials): string {
  return credentials.kind === 'project' ? credentials.apiKey : credentials.applicationId;
}

/**
 * Signs a fresh token for one request and returns the header that carries it.
 *
 * @example
 * ```ts
 * const { name, value } = await authorizationHeader({ kind: 'project', apiKey: '47000000', apiSecret });
 * await fetch(url, { headers: { [name]: value } });
 * ```
 */
export async function authorizationHeader(credentials: VonageCredentials, now = Date.now()): Promise<{ name: string; value: string }> {
  const iat = Math.floor(now / 1000);
  if (credentials.kind === 'project') {
    const token = await new SignJWT({ ist: 'project' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(credentials.apiKey)
      .setIssuedAt(iat)
      .setExpirationTime(iat + TOKEN_LIFETIME_SECONDS)
      .setJti(randomUUID())
      .sign(new TextEncoder().encode(credentials.apiSecret));
    return { name: 'x-opentok-auth', value: token };
  }
  const token = await new SignJWT({ application_id: credentials.applicationId })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + TOKEN_LIFETIME_SECONDS)
    .setJti(randomUUID())
    .sign(credentials.privateKey);
  return { name: 'authorization', value: `Bearer ${token}` };
}
