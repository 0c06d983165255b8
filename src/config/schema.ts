/**
 * The configuration file's schema (docs/CONFIG.md): what operators would otherwise repeat on every
 * command. It holds names of environment variables and paths, never secrets: a field that would carry
 * one (an access key, a connection string, a passphrase) does not exist, and an unknown field is an
 * error, so a secret pasted in by mistake is refused rather than silently kept on disk.
 *
 * Each section is its own schema: the service reads the same file, through the same loader.
 */
import * as z from 'zod';
import { byteSizeValue } from './size.js';

/** An environment variable name: the secret itself lives in the environment, not in the file. */
const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the name of an environment variable (e.g. KEY_PASS), not the secret itself');

const nonEmpty = z.string().min(1, 'must not be empty');

/** Bytes as a number or a size such as "8MiB" (binary multiples, as storage part sizes are). */
const byteSize = z
  .union([z.number(), z.string()])
  .transform((value, context) => {
    const bytes = typeof value === 'number' ? value : byteSizeValue(value);
    if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes < 64 * 1024 || bytes > 1024 ** 3) {
      context.addIssue({ code: 'custom', message: 'must be a size from 64KiB to 1GiB, as bytes or a string such as "8MiB"' });
      return z.NEVER;
    }
    return bytes;
  });

export const storageSchema = z.strictObject({
  s3: z
    .strictObject({
      /** S3-compatible endpoint (path-style), e.g. http://127.0.0.1:9000 for MinIO. */
      endpoint: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://s3.example.com' }).optional(),
      region: nonEmpty.optional(),
      /** Variables holding the credentials; without them the AWS SDK's standard chain applies. */
      accessKeyIdEnv: envName.optional(),
      secretAccessKeyEnv: envName.optional(),
      sessionTokenEnv: envName.optional(),
    })
    .refine((s3) => (s3.accessKeyIdEnv === undefined) === (s3.secretAccessKeyEnv === undefined), {
      message: 'give both accessKeyIdEnv and secretAccessKeyEnv, or neither (then the AWS credential chain applies)',
    })
    .optional(),
  azure: z
    .strictObject({
      /** Variable holding the connection string (default AZURE_STORAGE_CONNECTION_STRING). */
      connectionStringEnv: envName.optional(),
    })
    .optional(),
});

/** One key of the keyring: a file or a token object, each with its own passphrase (or PIN) source. */
export const keySchema = z
  .strictObject({
    path: nonEmpty.optional(),
    /** An RFC 7512 PKCS#11 URI, `pkcs11:token=…;object=…`. */
    uri: z.string().startsWith('pkcs11:', 'must be a pkcs11: URI (RFC 7512)').optional(),
    passphraseEnv: envName.optional(),
    passphraseFile: nonEmpty.optional(),
  })
  .refine((key) => (key.path === undefined) !== (key.uri === undefined), { message: 'give either "path" or "uri" (pkcs11:…), not both or neither' })
  .refine((key) => key.passphraseEnv === undefined || key.passphraseFile === undefined, {
    message: 'give passphraseEnv or passphraseFile, not both',
  });

export const policySchema = z.strictObject({
  /** `deny` refuses to write decrypted media to a named file (stdout and verify-only stay allowed). */
  plaintextFiles: z.enum(['allow', 'deny']).optional(),
});

export const downloadSchema = z.strictObject({
  partSize: byteSize.optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
  retries: z.number().int().min(0).max(100).optional(),
  /** Seconds under 4 KiB/s after which a download fails (exit 5); 0 turns the check off (docs/RELIABILITY.md). */
  stallTimeout: z.number().min(0).max(86400).optional(),
});

// ── The Vonage REST client's settings (src/vonage/) ─────────────────────────────────────────────
export const vonageSchema = z.strictObject({
  /** Legacy OpenTok project: the API key; the secret is in `apiSecretEnv` or `apiSecretFile`. */
  apiKey: nonEmpty.optional(),
  apiSecretEnv: envName.optional(),
  apiSecretFile: nonEmpty.optional(),
  /** Vonage application: the id, and its private key file (mode 0600). */
  applicationId: nonEmpty.optional(),
  privateKeyFile: nonEmpty.optional(),
  apiUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://api.opentok.com' }).optional(),
});
// ── serve / worker / enqueue / queue (docs/SERVICE.md) ──────────────────────────────────────────
/** A whole number in a range, with a default; one message for every way of missing it. */
const wholeNumber = (min: number, max: number, fallback: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message }).default(fallback);
};

const redisUrl = z
  .string({ error: 'must be a URL such as redis://127.0.0.1:6379' })
  .superRefine((text, context) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      context.addIssue({ code: 'custom', message: 'must be a URL such as redis://127.0.0.1:6379' });
      return;
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') context.addIssue({ code: 'custom', message: 'must start with redis:// or rediss://' });
    else if (url.password !== '') context.addIssue({ code: 'custom', message: 'must not hold a password; name its environment variable in service.redisPasswordEnv' });
  });

/** `s3://bucket[/prefix]` or `azure://container[/prefix]`. */
const storePrefix = z.string().regex(/^(s3|azure):\/\/[^/]+/, 'must be s3://bucket[/prefix] or azure://container[/prefix]');

export const serviceSchema = z.strictObject({
  /** `redis://[user@]host:port[/db]` or `rediss://` (TLS); the password comes from `redisPasswordEnv`. */
  redisUrl: redisUrl.default('redis://127.0.0.1:6379'),
  redisPasswordEnv: envName.optional(),
  /** BullMQ refuses ":" in queue names: it separates its Redis keys with it. */
  queueName: nonEmpty.refine((name) => !name.includes(':'), 'must not contain ":" (BullMQ separates its Redis keys with it)').default('archive-crypt'),
  action: z.enum(['reseal', 'verify', 'decrypt'], { error: 'must be reseal, verify or decrypt' }).default('reseal'),
  /** Where Vonage uploads; the archive is `<prefix>/<project>/<archiveId>/archive.mp4`. */
  source: storePrefix.optional(),
  /** `s3://bucket[/prefix]`, `azure://container[/prefix]` or a folder (relative to this file). Required unless `action` is `verify`. */
  destination: nonEmpty.optional(),
  /** Recipient certificates (PEM) for `reseal`. */
  recipients: z.array(nonEmpty, { error: 'must be a list of certificate files' }).default([]),
  /** Private keys, current first: files or `pkcs11:` URIs (docs/HSM.md). */
  keys: z.array(nonEmpty, { error: 'must be a list of key files or pkcs11: URIs' }).default([]),
  /** The key passphrase (or token PIN): workers run unattended, so never a prompt. */
  passphraseEnv: envName.optional(),
  passphraseFile: nonEmpty.optional(),
  /** The PKCS#11 module (.so) for `pkcs11:` keys without `module-path=`; before ARCHIVE_CRYPT_PKCS11_MODULE. */
  pkcs11Module: nonEmpty.optional(),
  /** Tries per job (storage and network failures only), and the first retry delay, doubling. */
  attempts: wholeNumber(1, 100, 5),
  backoffMs: wholeNumber(1, 3_600_000, 2_000),
  /** Accept callbacks without a token (warned about at start); forged tokens are refused regardless. */
  allowUnsigned: z.boolean({ error: 'must be true or false' }).default(false),
  callbackSecretEnv: envName.default('VONAGE_SIGNATURE_SECRET'),
  listen: z
    .string()
    .regex(/^(?:\[[0-9a-f:]+\]|[^:]+):\d{1,5}$/i, 'must be host:port, e.g. 127.0.0.1:8080')
    .default('127.0.0.1:8080'),
  callbackPath: z.string().startsWith('/', 'must start with /').default('/vonage/archive'),
  /** Jobs in flight per worker process. */
  concurrency: wholeNumber(1, 256, 1),
  /** How long a worker's lock on a job lasts without renewal, and how often workers look for expired ones. */
  lockDurationMs: wholeNumber(100, 3_600_000, 30_000),
  stalledIntervalMs: wholeNumber(100, 3_600_000, 30_000),
  /** After SIGTERM: how long running jobs may finish before they are handed back. */
  graceMs: wholeNumber(0, 3_600_000, 30_000),
  s3Endpoint: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://s3.example.com' }).optional(),
  s3Region: nonEmpty.optional(),
  azureConnectionStringEnv: envName.optional(),
});

export const configSchema = z.strictObject({
  /** Lets editors validate the file; ignored here. */
  $schema: z.string().optional(),
  storage: storageSchema.optional(),
  keyring: z.array(keySchema).min(1, 'must list at least one key (or leave "keyring" out)').optional(),
  /** Certificates `seal` and `reseal` encrypt to when no `--to` is given. */
  recipients: z.array(nonEmpty).min(1, 'must list at least one certificate (or leave "recipients" out)').optional(),
  policy: policySchema.optional(),
  download: downloadSchema.optional(),
  vonage: vonageSchema.optional(),
  service: serviceSchema.optional(),
});

export type ArchiveCryptConfig = z.output<typeof configSchema>;
export type KeyConfig = z.infer<typeof keySchema>;
/** The `service` section with its defaults filled in. */
export type ServiceConfig = z.output<typeof serviceSchema>;
