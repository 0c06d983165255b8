import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyError } from '../src/errors.js';
import { verifyCallbackToken } from '../src/vonage/callback.js';
import { openssl } from './support/helpers.js';

const secret = 'callback-signature-secret';
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs a JWT with the openssl command line: an implementation independent of ours (and of jose). */
async function sign(header: unknown, claims: unknown, key = secret): Promise<string> {
  const input = `${b64url(header)}.${b64url(claims)}`;
  const mac = await openssl(['dgst', '-sha256', '-hmac', key, '-binary'], { input });
  return `${input}.${mac.stdoutBytes.toString('base64url')}`;
}

const now = Date.UTC(2026, 10, 27, 12, 0, 0);
const iat = now / 1000;
const body = JSON.stringify({ id: 'b40ef09b', status: 'uploaded', password: 'cGFzc3dvcmQ=' });
const bodyHash = createHash('sha256').update(body).digest('hex');
const claims = { iss: 'Vonage', iat, exp: iat + 300, application_id: 'abc' };

describe('signed Vonage callbacks', () => {
  it('accepts a token signed with the secret, with or without "Bearer"', async () => {
    const token = await sign({ alg: 'HS256', typ: 'JWT' }, claims);
    await expect(verifyCallbackToken(`Bearer ${token}`, secret, { now })).resolves.toMatchObject({ iss: 'Vonage', application_id: 'abc' });
    expect((await verifyCallbackToken(token, Buffer.from(secret), { now })).exp).toBe(iat + 300);
  });

  it('accepts a token whose payload_hash is the SHA-256 of the body', async () => {
    const token = await sign({ alg: 'HS256' }, { ...claims, payload_hash: bodyHash });
    await expect(verifyCallbackToken(token, secret, { now, body })).resolves.toMatchObject({ payload_hash: bodyHash });
    await expect(verifyCallbackToken(token, secret, { now, body: Buffer.from(body) })).resolves.toMatchObject({ iss: 'Vonage' });
  });

  it('allows a small clock difference, and no more', async () => {
    const token = await sign({ alg: 'HS256' }, { ...claims, exp: iat - 10 });
    await expect(verifyCallbackToken(token, secret, { now })).resolves.toMatchObject({ exp: iat - 10 });
    await expect(verifyCallbackToken(token, secret, { now, clockToleranceSeconds: 5 })).rejects.toThrow(/expired/);
  });

  it.each([
    ['no header at all', () => Promise.resolve(undefined), {}, /unsigned callback/],
    ['a token signed with another secret', () => sign({ alg: 'HS256' }, claims, 'other-secret'), {}, /invalid callback signature/],
    ['alg none', () => Promise.resolve(`${b64url({ alg: 'none' })}.${b64url(claims)}.`), {}, /algorithm refused/],
    ['RS256', () => sign({ alg: 'RS256' }, claims), {}, /algorithm refused/],
    ['HS512', () => sign({ alg: 'HS512' }, claims), {}, /algorithm refused/],
    ['a changed claim', async () => {
      const [h, , s] = (await sign({ alg: 'HS256' }, claims)).split('.');
      return `${h}.${b64url({ ...claims, application_id: 'evil' })}.${s}`;
    }, {}, /invalid callback signature/],
    ['a token without exp', () => sign({ alg: 'HS256' }, { iss: 'Vonage', iat }), {}, /no valid "exp"/],
    ['an expired token', () => sign({ alg: 'HS256' }, { ...claims, exp: iat - 3600 }), {}, /expired/],
    ['a token from the future', () => sign({ alg: 'HS256' }, { ...claims, nbf: iat + 3600 }), {}, /not valid yet/],
    ['a body that does not match payload_hash', () => sign({ alg: 'HS256' }, { ...claims, payload_hash: bodyHash }), { body: `${body} ` }, /does not match the signed payload_hash/],
    ['payload_hash without the body', () => sign({ alg: 'HS256' }, { ...claims, payload_hash: bodyHash }), {}, /pass the request body/],
    ['a malformed payload_hash', () => sign({ alg: 'HS256' }, { ...claims, payload_hash: 'abc' }), { body }, /malformed payload_hash/],
    ['garbage', () => Promise.resolve('a.b'), {}, /malformed/],
  ])('refuses %s', async (_name, make, extra, message) => {
    const token = await make();
    const attempt = verifyCallbackToken(token, secret, { now, ...extra });
    await expect(attempt).rejects.toThrow(KeyError);
    await expect(verifyCallbackToken(token, secret, { now, ...extra })).rejects.toThrow(message);
  });

  it('refuses an empty secret', async () => {
    await expect(verifyCallbackToken('x', '', { now })).rejects.toThrow(/empty callback signature secret/);
  });
});
