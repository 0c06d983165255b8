/**
 * A keyring and a Vonage-style password for a known archive key and IV: the engine tests encrypt with
 * openssl under a raw key, and decryptArchive takes what Vonage hands out (password + keyring).
 */
import { constants, generateKeyPairSync, publicEncrypt, type KeyObject } from 'node:crypto';
import { encodePasswordBlob } from '../../src/format/opentok.js';
import { createKeyring, fileKeyHandle, type Keyring } from '../../src/keys/keyring.js';

let rsa: { publicKey: KeyObject; privateKey: KeyObject } | undefined;

/** A keyring of one file key (made once per test file). */
export function testKeyring(): { keyring: Keyring; publicKey: KeyObject } {
  rsa ??= generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keyring: createKeyring([fileKeyHandle(rsa.privateKey, 'test key')]), publicKey: rsa.publicKey };
}

/** `{ password, keyring }` that unwrap to `key` and `iv` (RSA-OAEP SHA-1, as Vonage wraps them). */
export function passwordFor(key: Uint8Array, iv: Uint8Array): { password: string; keyring: Keyring } {
  const { keyring, publicKey } = testKeyring();
  const password = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, encodePasswordBlob(key, iv)).toString('base64');
  return { password, keyring };
}
