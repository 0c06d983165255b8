import { describe, expect, it } from 'vitest';
import { KeyError } from '../src/errors.js';
import { verifyCallbackToken } from '../src/vonage/callback.js';
import { openssl } from './helpers.js';

const secret = 'callback-signature-secret';
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs a JWT with the openssl command line: an implementation independent of ours. */
async function sign(header: unknown, claims: unknown, key = secret): Promise<string> {
  const input = `${b64url(header)}.${b64url(claims)}`;
  const mac = await openssl(['dgst', '-sha256', '-hmac', key, '-binary'], { input });
  return `${input}.${mac.stdoutBytes.toString('base64url')}`;
}

const now = Date.UTC(2026, 10, 27, 12, 0, 0);
const iat = now / 1000;
const claims = { iss: 'Vonage', iat, exp: iat + 300, application_id: 'abc', payload_hash: 'x' };

describe('signed Vonage callbacks', () => {
  it('accepts a token signed with the secret, with or without "Bearer"', async () => {
    const token = await sign({ alg: 'HS256', typ: 'JWT' }, claims);
    expect(verifyCallbackToken(`Bearer ${token}`, secret, { now })).toMatchObject({ iss: 'Vonage', application_id: 'abc' });
    expect(verifyCallbackToken(token, Buffer.from(secret), { now }).exp).toBe(iat + 300);
  });

  it.each([
    ['no header at all', () => Promise.resolve(undefined), /unsigned or malformed/],
    ['a token signed with another secret', () => sign({ alg: 'HS256' }, claims, 'other-secret'), /invalid callback signature/],
    ['alg none', () => Promise.resolve(`${b64url({ alg: 'none' })}.${b64url(claims)}.AAAA`), /algorithm none refused/],
    ['RS256', () => sign({ alg: 'RS256' }, claims), /algorithm RS256 refused/],
    ['a changed claim', async () => {
      const [h, , s] = (await sign({ alg: 'HS256' }, claims)).split('.');
      return `${h}.${b64url({ ...claims, application_id: 'evil' })}.${s}`;
    }, /invalid callback signature/],
    ['an expired token', () => sign({ alg: 'HS256' }, { ...claims, exp: iat - 3600 }), /expired/],
    ['a token from the future', () => sign({ alg: 'HS256' }, { ...claims, nbf: iat + 3600 }), /not valid yet/],
    ['garbage', () => Promise.resolve('a.b'), /malformed/],
  ])('refuses %s', async (_name, make, message) => {
    const token = await make();
    expect(() => verifyCallbackToken(token, secret, { now })).toThrow(KeyError);
    expect(() => verifyCallbackToken(token, secret, { now })).toThrow(message);
  });
});
