/**
 * The service's pure parts, in process: the `service` section of the configuration file (defaults,
 * every refusal names the file and the field, paths relative to the file), output naming, job ids and
 * data, and which failures are retried.
 */
import { describe, expect, it } from 'vitest';
import { IntegrityError, KeyError, OutputError, StorageError, UsageError } from '../src/errors.js';
import { parseConfig } from '../src/config/load.js';
import { assertWorkerConfig, serviceDefaults, type ServiceConfig } from '../src/service/config.js';
import { archiveSourceName, outputNames } from '../src/service/process-archive.js';
import { archiveJobData, archiveJobId, redisConnection } from '../src/service/queue.js';
import { isPermanent } from '../src/service/worker.js';

const file = '/etc/archive-crypt/service.json';
/** The `service` section as the one loader reads it from a file named `file`. */
function parseServiceConfig(section: unknown): ServiceConfig {
  return parseConfig(JSON.stringify({ service: section }), file).service ?? serviceDefaults();
}

describe('service settings', () => {
  it('fills in the defaults', () => {
    expect(parseServiceConfig({})).toEqual(serviceDefaults());
    expect(serviceDefaults()).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', queueName: 'archive-crypt', action: 'reseal', attempts: 5, concurrency: 1, listen: '127.0.0.1:8080', keys: [], recipients: [] });
    expect(parseServiceConfig({ attempts: 2, destination: 'azure://sealed/x' })).toMatchObject({ attempts: 2, destination: 'azure://sealed/x', queueName: 'archive-crypt' });
  });

  it('resolves paths against the file\'s folder; pkcs11: URIs and object-store prefixes stay as they are', () => {
    const config = parseServiceConfig({
      keys: ['keys/current.pem', 'pkcs11:token=archive;object=k1'],
      recipients: ['auditor.pem'],
      passphraseFile: 'pass.txt',
      pkcs11Module: 'lib/softhsm2.so',
      destination: 'out',
      source: 's3://vonage/prefix',
    });
    expect(config).toMatchObject({
      keys: ['/etc/archive-crypt/keys/current.pem', 'pkcs11:token=archive;object=k1'],
      recipients: ['/etc/archive-crypt/auditor.pem'],
      passphraseFile: '/etc/archive-crypt/pass.txt',
      pkcs11Module: '/etc/archive-crypt/lib/softhsm2.so',
      destination: '/etc/archive-crypt/out',
      source: 's3://vonage/prefix',
    });
    expect(parseServiceConfig({ destination: 's3://sealed/pre' }).destination).toBe('s3://sealed/pre');
  });

  it.each([
    [{ redisUrl: 'http://127.0.0.1:6379' }, /: service\.redisUrl: must start with redis:\/\//],
    [{ redisUrl: 'redis://:hunter2@127.0.0.1:6379' }, /: service\.redisUrl: must not hold a password.*redisPasswordEnv/],
    [{ queueName: 'a:b' }, /: service\.queueName: must not contain ":"/],
    [{ action: 'delete' }, /: service\.action: must be reseal, verify or decrypt/],
    [{ attempts: 0 }, /: service\.attempts: must be a whole number from 1 to 100/],
    [{ backoffMs: 1.5 }, /: service\.backoffMs: must be a whole number/],
    [{ concurrency: '4' }, /: service\.concurrency: must be a whole number from 1 to 256/],
    [{ allowUnsigned: 'yes' }, /: service\.allowUnsigned: must be true or false/],
    [{ callbackSecretEnv: 'my secret value' }, /: service\.callbackSecretEnv: must be the name of an environment variable/],
    [{ listen: '8080' }, /: service\.listen: must be host:port/],
    [{ callbackPath: 'callback' }, /: service\.callbackPath: must start with \//],
    [{ source: '/srv/archives' }, /: service\.source: must be s3:\/\/bucket/],
    [{ keys: 'key.pem' }, /: service\.keys: must be a list of key files/],
    [{ secret: 'x' }, /: unknown field service\.secret \(the file holds paths and variable names, never secrets/],
    [[], /: service: /],
  ])('refuses %j, naming the file and the field', (section, message) => {
    expect(() => parseServiceConfig(section)).toThrow(UsageError);
    expect(() => parseServiceConfig(section)).toThrow(message);
    expect(() => parseServiceConfig(section)).toThrow(/^config file \/etc\/archive-crypt\/service\.json: /);
  });

  it.each([
    [{ destination: 's3://out', recipients: ['c.pem'] }, /service\.keys must name at least one private key/],
    [{ keys: ['k.pem'], recipients: ['c.pem'] }, /service\.destination is required for action reseal/],
    [{ keys: ['k.pem'], destination: 's3://out' }, /service\.recipients must name at least one certificate/],
  ])('a worker needs keys, a destination and recipients: %j', (section, message) => {
    expect(() => assertWorkerConfig(parseServiceConfig(section))).toThrow(message);
  });

  it('a verify worker needs neither destination nor recipients', () => {
    expect(() => assertWorkerConfig(parseServiceConfig({ action: 'verify', keys: ['k.pem'] }))).not.toThrow();
  });

  it('reads the Redis password from its variable, never from the URL', () => {
    const config = parseServiceConfig({ redisUrl: 'rediss://worker@redis.internal:6380/2', redisPasswordEnv: 'REDIS_PASSWORD' });
    expect(redisConnection(config, { REDIS_PASSWORD: 'pw' })).toMatchObject({ host: 'redis.internal', port: 6380, db: 2, username: 'worker', password: 'pw', tls: {} });
    expect(redisConnection(serviceDefaults(), {})).not.toHaveProperty('password');
  });
});

describe('service naming and failure classes', () => {
  const job = { project: '46372', archiveId: 'b40e', password: 'p' };

  it.each([
    ['s3://sealed', 'reseal', { output: 's3://sealed/46372/b40e/archive.sealed', report: 's3://sealed/46372/b40e/report.json' }],
    ['azure://out/pre/', 'decrypt', { output: 'azure://out/pre/46372/b40e/archive.ts', report: 'azure://out/pre/46372/b40e/report.json' }],
    ['/srv/out', 'verify', { report: '/srv/out/46372/b40e/report.json' }],
    [undefined, 'verify', {}],
  ] as const)('outputs under %s for %s', (destination, action, expected) => {
    expect(outputNames(destination, job, action)).toEqual(expected);
  });

  it('reads the fallback URL when Vonage kept the archive, else the configured store', () => {
    expect(archiveSourceName('s3://vonage/prefix/', job)).toBe('s3://vonage/prefix/46372/b40e/archive.mp4');
    expect(archiveSourceName(undefined, { ...job, url: 'https://vonage.example/a.mp4' })).toBe('https://vonage.example/a.mp4');
    expect(() => archiveSourceName(undefined, job)).toThrow(StorageError);
  });

  it('job ids follow the archive; archives without a password or project give no job', () => {
    expect(archiveJobId('46372', 'b40e')).toBe('46372/b40e');
    expect(archiveJobData({ id: 'b40e', password: 'p', projectId: '46372', url: null } as never, undefined)).toEqual(job);
    expect(archiveJobData({ id: 'b40e', password: '' }, '46372')).toBeUndefined();
    expect(archiveJobData({ id: 'b40e', password: 'p' }, undefined)).toBeUndefined();
  });

  it.each([
    [new IntegrityError('sha256 mismatch'), true],
    [new KeyError('wrong key'), true],
    [new UsageError('bad'), true],
    [new OutputError('policy', { code: 'ERR_POLICY' }), true],
    [new StorageError('gone', { code: 'ERR_NOT_FOUND' }), false],
    [new StorageError('503'), false],
    [new Error('socket hang up'), false],
  ])('%s is permanent: %s', (error, permanent) => {
    expect(isPermanent(error)).toBe(permanent);
  });
});
