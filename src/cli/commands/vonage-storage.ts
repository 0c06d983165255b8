/**
 * `archive-crypt vonage storage set | policy`: registers where Vonage uploads archives and the
 * certificate it encrypts them with (`PUT …/archive/storage`), and prints least-privilege IAM policies
 * for the two kinds of credentials involved.
 */
import { Option, type Command } from 'commander';
import { KeyError, UsageError } from '../../errors.js';
import type { StorageTarget } from '../../vonage/client.js';
import type { CliContext } from '../context.js';
import { addApiUrl, confirm, connectVonage, type VonageApiFlags } from './vonage.js';

const SET_EXAMPLE = `
Sends PUT /v2/project/<id>/archive/storage with {"type","config","fallback","certificate"}
(tokbox.com/developer/rest/#set_archive_storage, developer.vonage.com/en/video/guides/archiving/encryption
and …/amazon-s3-encryption). The storage secrets are read from the environment variables you name, never
from the command line; --dry-run prints the request with every secret masked and sends nothing.

--certificate FILE (PEM or DER) sends base64 of the certificate's PEM, the value \`keys inspect\`
shows. It is refused before anything is sent when Vonage would reject it (the \`keys inspect\` rules:
RSA of at most 2048 bits, valid now) or when the file also holds a private key. --no-certificate sends
"certificate": null, which turns archive encryption off: it asks for confirmation unless --yes.

--fallback none (the default) keeps Vonage from keeping an archive whose upload failed on its own cloud,
where it would sit for up to 72 hours outside your storage and its rules; "opentok" allows that fallback
(then fetch such archives with \`decrypt --vonage-archive <id> --delete-after\`).
--sse s3 asks S3 to encrypt the objects at rest with S3-managed keys (SSE-S3; Vonage supports no KMS keys).

Least privilege: the keys you hand Vonage need only to write the archive prefix (see \`vonage storage
policy\`). An Azure account key always opens the whole storage account — Vonage's API takes no narrower
credential — so keep a storage account for archives alone. For S3, check in IAM that the access key's
user has no s3:GetObject, s3:ListBucket or s3:DeleteObject. The command also tries to list the bucket
with those keys (one read-only request to the endpoint; --no-key-check skips it) and warns when it can.

Examples:
  $ export ARCHIVE_AK=… ARCHIVE_SK=…
  $ archive-crypt vonage storage set --s3-bucket my-archives --s3-access-key-env ARCHIVE_AK \\
      --s3-secret-key-env ARCHIVE_SK --certificate keys/archive-certificate.pem --dry-run
  PUT https://api.opentok.com/v2/project/46372/archive/storage
  X-OPENTOK-AUTH: <a JWT signed with the API secret, not shown>
  {"type":"s3","config":{"bucket":"my-archives","accessKey":"AKIA…","secretKey":"********","sse":"none"},…}

  $ export ARCHIVE_ACCOUNT_KEY=…
  $ archive-crypt vonage storage set --azure-account myaccount --azure-container archives \\
      --azure-account-key-env ARCHIVE_ACCOUNT_KEY --certificate keys/archive-certificate.pem

Exit codes: 0 ok, 2 usage, 3 certificate refused, 5 Vonage refused the request or the credentials.
`;

const POLICY_EXAMPLE = `
Prints two IAM policies as JSON:
  vonageUpload   for the access key you hand to Vonage with \`vonage storage set\`: s3:PutObject on
                 <bucket>/<apiKey>/* and nothing else. Vonage's guides (developer.vonage.com/en/video/
                 guides/archiving, …/amazon-s3-encryption) ask only for "the secret key and access key
                 for that bucket" and list no other action; in S3, s3:PutObject also authorises the parts
                 of a multipart upload. Vonage cannot read, list or delete with it.
  decryptHosts   for the hosts that run \`decrypt\`, \`batch\` and \`list\`: s3:GetObject on the same
                 prefix and s3:ListBucket limited to it.
Without --api-key the policies cover the whole bucket.

Example:
  $ archive-crypt vonage storage policy --s3-bucket my-archives --api-key 46372 > policies.json
`;

interface SetFlags extends VonageApiFlags {
  s3Bucket?: string;
  s3Endpoint?: string;
  s3AccessKeyEnv?: string;
  s3SecretKeyEnv?: string;
  sse?: 's3' | 'none';
  azureAccount?: string;
  azureContainer?: string;
  azureAccountKeyEnv?: string;
  certificate?: string | false;
  fallback: 'none' | 'opentok';
  keyCheck: boolean;
  dryRun?: boolean;
  yes?: boolean;
}

interface PolicyFlags {
  s3Bucket: string;
  apiKey?: string;
}

export function register(vonage: Command, ctx: CliContext): void {
  const storage = vonage.command('storage').description('the archive upload target and certificate Vonage uses');
  addApiUrl(
    storage
      .command('set')
      .description('register the S3 bucket or Azure container Vonage uploads to, and the encryption certificate')
      .option('--s3-bucket <bucket>', 'S3 bucket Vonage uploads to')
      .option('--s3-endpoint <url>', 'S3-compatible endpoint (default: Amazon S3)')
      .option('--s3-access-key-env <var>', 'environment variable holding the access key id for Vonage')
      .option('--s3-secret-key-env <var>', 'environment variable holding the secret access key for Vonage')
      .addOption(new Option('--sse <mode>', 'S3 server-side encryption: s3 (S3-managed keys) or none').choices(['s3', 'none']))
      .option('--azure-account <name>', 'Azure storage account Vonage uploads to')
      .option('--azure-container <name>', 'Azure container')
      .option('--azure-account-key-env <var>', 'environment variable holding the storage account key')
      .option('--certificate <file>', 'certificate (PEM or DER) Vonage encrypts archives with')
      .option('--no-certificate', 'turn archive encryption off ("certificate": null)')
      .addOption(new Option('--fallback <where>', 'if an upload fails: none, or opentok (Vonage keeps it 72 h)').choices(['none', 'opentok']).default('none'))
      .option('--no-key-check', 'do not try (one read-only S3 request) whether the keys for Vonage can list the bucket')
      .option('--dry-run', 'print the request with secrets masked; send nothing')
      .option('--yes', 'do not ask before turning encryption off'),
  )
    .addHelpText('after', SET_EXAMPLE)
    .action((flags: SetFlags) => setCommand(ctx, flags));

  storage
    .command('policy')
    .description('print least-privilege IAM policies: the upload key for Vonage, and the decrypting hosts')
    .requiredOption('--s3-bucket <bucket>', 'the archive bucket')
    .option('--api-key <key>', 'the Vonage project id (API key): limits the policies to its prefix')
    .addHelpText('after', POLICY_EXAMPLE)
    .action((flags: PolicyFlags) => policyCommand(ctx, flags));
}

async function setCommand(ctx: CliContext, flags: SetFlags): Promise<void> {
  const target = await storageTarget(ctx, flags);
  const client = await connectVonage(ctx, flags);
  const warnings = await credentialWarnings(ctx, target, flags.keyCheck);
  for (const warning of warnings) ctx.stderr.write(`archive-crypt: warning: ${warning}\n`);
  if (flags.dryRun) {
    const auth = client.kind === 'project' ? 'X-OPENTOK-AUTH: <a JWT signed with the API secret, not shown>' : 'Authorization: Bearer <a JWT signed with the application key, not shown>';
    ctx.stdout.write(`PUT ${client.urlOf('archive/storage').href}\n${auth}\n${JSON.stringify(masked(target), null, 2)}\n(dry run: nothing was sent)\n`);
    return;
  }
  if (target.certificate === null && !flags.yes) {
    await confirm(ctx, 'Turn archive encryption off? Vonage will upload archives unencrypted. [y/N] ', '--yes');
  }
  await client.setStorage(target, ctx.signal);
  const where = target.type === 's3' ? `s3://${target.config.bucket}` : `azure://${target.config.accountName}/${target.config.container}`;
  ctx.stderr.write(
    `Vonage now uploads archives to ${where}, ${target.certificate === null ? 'UNENCRYPTED (no certificate)' : `encrypted with ${String(flags.certificate)}`}, fallback ${target.fallback}\n`,
  );
}

/** Checks every flag and reads every secret before anything is sent. */
async function storageTarget(ctx: CliContext, flags: SetFlags): Promise<StorageTarget> {
  const s3 = flags.s3Bucket !== undefined || flags.s3AccessKeyEnv !== undefined || flags.s3SecretKeyEnv !== undefined || flags.s3Endpoint !== undefined || flags.sse !== undefined;
  const azure = flags.azureAccount !== undefined || flags.azureContainer !== undefined || flags.azureAccountKeyEnv !== undefined;
  if (s3 === azure) throw new UsageError('give either the --s3-… options or the --azure-… options');
  if (flags.certificate === undefined) throw new UsageError('give --certificate FILE (encrypt archives) or --no-certificate (do not)');
  const secret = (variable: string | undefined, flag: string): string => {
    if (variable === undefined) throw new UsageError(`${flag} VAR is required: the name of the environment variable holding it`);
    const value = ctx.env[variable];
    if (value === undefined || value === '') throw new UsageError(`${variable} (${flag}) is not set`);
    return value;
  };
  const certificateFile = flags.certificate;
  const certificate = async () => (certificateFile === false ? null : certificateValue(certificateFile));
  if (s3) {
    if (flags.s3Bucket === undefined) throw new UsageError('--s3-bucket is required with the --s3-… options');
    const { parseStoreSpec } = await import('../../storage/uri.js');
    parseStoreSpec(`s3://${flags.s3Bucket}`);
    if (flags.s3Endpoint !== undefined && !/^https?:\/\/[^/\s]+/.test(flags.s3Endpoint)) {
      throw new UsageError(`--s3-endpoint must be a URL with its protocol, e.g. https://storage.googleapis.com (got "${flags.s3Endpoint}")`);
    }
    const config: Record<string, string> = {
      bucket: flags.s3Bucket,
      accessKey: secret(flags.s3AccessKeyEnv, '--s3-access-key-env'),
      secretKey: secret(flags.s3SecretKeyEnv, '--s3-secret-key-env'),
      ...(flags.s3Endpoint !== undefined ? { endpoint: flags.s3Endpoint } : {}),
      sse: flags.sse ?? 'none',
    };
    return { type: 's3', config, fallback: flags.fallback, certificate: await certificate() };
  }
  if (flags.azureAccount === undefined || flags.azureContainer === undefined) {
    throw new UsageError('--azure-account and --azure-container are both required with the --azure-… options');
  }
  const { parseStoreSpec } = await import('../../storage/uri.js');
  parseStoreSpec(`azure://${flags.azureContainer}`);
  const config = { accountName: flags.azureAccount, accountKey: secret(flags.azureAccountKeyEnv, '--azure-account-key-env'), container: flags.azureContainer };
  return { type: 'azure', config, fallback: flags.fallback, certificate: await certificate() };
}

/** base64 of the certificate's PEM (what `keys inspect` shows), once its rules say Vonage will take it. */
async function certificateValue(path: string): Promise<string> {
  const { inspectKeyFile } = await import('../../keys/inspect.js');
  const report = await inspectKeyFile(path);
  // Never hand a private key to Vonage, even one sitting beside the certificate.
  if (report.items.some((item) => item.kind === 'private-key')) {
    throw new KeyError(`${path} also holds a private key: give a file with only the certificate (keys generate writes archive-certificate.pem)`);
  }
  const certificates = report.items.filter((item) => item.kind === 'certificate');
  const certificate = certificates[0];
  if (certificate === undefined) throw new KeyError(`${path} holds no certificate: Vonage needs an X.509 certificate (PEM or DER)`);
  if (certificates.length > 1) throw new KeyError(`${path} holds ${certificates.length} certificates: give the one Vonage should encrypt with`);
  if (certificate.vonage.accepted !== true) throw new KeyError(`Vonage would reject ${path}: ${certificate.vonage.reason}`);
  return certificate.vonageCertificate;
}

function masked(target: StorageTarget): StorageTarget {
  const config = { ...target.config };
  for (const name of ['secretKey', 'accountKey']) if (config[name] !== undefined) config[name] = '********';
  const certificate = target.certificate === null ? null : `${target.certificate.slice(0, 24)}… (${target.certificate.length} base64 characters)`;
  return { ...target, config, certificate };
}

/**
 * What we can see about the keys handed to Vonage: an Azure account key is always account-wide; an S3
 * key that can list the bucket holds more than the upload needs (one ListObjectsV2 with those keys).
 */
async function credentialWarnings(ctx: CliContext, target: StorageTarget, check: boolean): Promise<string[]> {
  if (target.type === 'azure') {
    return ['an Azure account key opens the whole storage account (Vonage takes no narrower credential): use a storage account that holds only archives'];
  }
  if (!check) return [];
  const { connectS3, S3Store } = await import('../../storage/s3.js');
  const { resolveRetryPolicy } = await import('../../storage/retry.js');
  const { accessKey = '', secretKey = '', endpoint, bucket = '' } = target.config;
  const connection = connectS3(
    { ...(endpoint !== undefined ? { endpoint } : {}), region: ctx.env.AWS_REGION ?? 'us-east-1', credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } },
    resolveRetryPolicy({ retries: 0, idleTimeoutMs: 10_000 }),
    {},
  );
  const store = new S3Store(connection, bucket, '');
  try {
    for await (const object of store.list('')) {
      void object;
      break;
    }
    return [`the access key for Vonage can list s3://${bucket}: Vonage needs only s3:PutObject on the archive prefix (see \`vonage storage policy\`)`];
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_ACCESS_DENIED') return [];
    return [`could not check what the access key for Vonage may do (${error instanceof Error ? error.message : String(error)}): make sure in IAM it has only s3:PutObject`];
  } finally {
    await store.close?.();
  }
}

function policyCommand(ctx: CliContext, flags: PolicyFlags): Promise<void> {
  return import('../../storage/uri.js').then(({ parseStoreSpec }) => {
    parseStoreSpec(`s3://${flags.s3Bucket}`);
    if (flags.apiKey !== undefined && !/^[A-Za-z0-9-]+$/.test(flags.apiKey)) throw new UsageError(`--api-key "${flags.apiKey}" is not a Vonage project id`);
    ctx.stdout.write(`${JSON.stringify(archivePolicies(flags.s3Bucket, flags.apiKey), null, 2)}\n`);
  });
}

/** The two least-privilege policies (see POLICY_EXAMPLE for why each action is there). */
export function archivePolicies(bucket: string, apiKey: string | undefined) {
  const objects = `arn:aws:s3:::${bucket}/${apiKey === undefined ? '' : `${apiKey}/`}*`;
  return {
    vonageUpload: {
      Version: '2012-10-17',
      Statement: [{ Sid: 'VonageArchiveUpload', Effect: 'Allow', Action: ['s3:PutObject'], Resource: objects }],
    },
    decryptHosts: {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'ReadArchives', Effect: 'Allow', Action: ['s3:GetObject'], Resource: objects },
        {
          Sid: 'ListArchives',
          Effect: 'Allow',
          Action: ['s3:ListBucket'],
          Resource: `arn:aws:s3:::${bucket}`,
          ...(apiKey === undefined ? {} : { Condition: { StringLike: { 's3:prefix': [`${apiKey}/*`] } } }),
        },
      ],
    },
  };
}
