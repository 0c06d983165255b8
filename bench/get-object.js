#!/usr/bin/env node
// @ts-check
// The S3 baseline of bench/run.js: what a user would script without this tool — one GetObject
// stream piped through createDecipheriv to stdout. Usage: get-object.js <bucket> <key> <keyHex> <ivHex>
// (endpoint and credentials from the AWS_* environment, loopback s3rver in the bench).
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createDecipheriv } from 'node:crypto';
import { pipeline } from 'node:stream/promises';

const [bucket, key, keyHex = '', ivHex = ''] = process.argv.slice(2);
const client = new S3Client({ forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
if (!Body) throw new Error('GetObject returned no body');
await pipeline(/** @type {import('node:stream').Readable} */ (Body), createDecipheriv('aes-256-cbc', Buffer.from(keyHex, 'hex'), Buffer.from(ivHex, 'hex')), process.stdout);
client.destroy();
