import { createPrivateKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { KeyError } from '../errors.js';

/** Extracts the (first) private key of a PKCS#12 bundle. */
export function privateKeyFromPkcs12(bytes: Buffer, label: string, passphrase: string): KeyObject {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(bytes.toString('binary')));
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, passphrase);
  } catch (error) {
    const message = error instanceof Error ? error.message : '';
    if (/mac|password|decrypt/i.test(message)) {
      throw new KeyError(`wrong passphrase for ${label} (or the PKCS#12 file is damaged)`, { cause: error });
    }
    throw new KeyError(`${label} is not a usable private key (PEM PKCS#8, PKCS#1 or PKCS#12 expected)`, { cause: error });
  }
  const shrouded = forge.pki.oids.pkcs8ShroudedKeyBag as string;
  const plain = forge.pki.oids.keyBag as string;
  const bags = [...(p12.getBags({ bagType: shrouded })[shrouded] ?? []), ...(p12.getBags({ bagType: plain })[plain] ?? [])];
  const forgeKey = bags.find((bag) => bag.key)?.key;
  if (!forgeKey) throw new KeyError(`${label} is a PKCS#12 bundle without a private key`);
  return createPrivateKey(forge.pki.privateKeyToPem(forgeKey));
}
