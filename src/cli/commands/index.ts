import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { register as registerBatch } from './batch.js';
import { register as registerDecrypt } from './decrypt.js';
import { register as registerEncrypt } from './encrypt.js';
import { register as registerEnqueue } from './enqueue.js';
import { register as registerKeys } from './keys.js';
import { register as registerList } from './list.js';
import { register as registerQueue } from './queue.js';
import { register as registerReseal } from './reseal.js';
import { register as registerSeal } from './seal.js';
import { register as registerServe } from './serve.js';
import { register as registerUnseal } from './unseal.js';
import { register as registerVonage } from './vonage.js';
import { register as registerWorker } from './worker.js';

/** Every command registers its flags here; the work it does loads lazily inside its action. */
export function registerCommands(program: Command, ctx: CliContext): void {
  registerBatch(program, ctx);
  registerDecrypt(program, ctx);
  registerEncrypt(program, ctx);
  registerEnqueue(program, ctx);
  registerKeys(program, ctx);
  registerList(program, ctx);
  registerQueue(program, ctx);
  registerReseal(program, ctx);
  registerSeal(program, ctx);
  registerServe(program, ctx);
  registerUnseal(program, ctx);
  registerVonage(program, ctx);
  registerWorker(program, ctx);
}
