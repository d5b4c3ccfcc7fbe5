import { join } from 'node:path';
import { AMQP_URL } from './broker.js';
import { runProcess, type ProcessRun } from './process.js';

const BIN = join(process.cwd(), 'codegen/bin/taskbus.js');

/** Runs the `taskbus` CLI as a user would, in the given directory. */
export function taskbus(cwd: string, ...args: string[]): Promise<ProcessRun> {
  return runProcess(process.execPath, [BIN, ...args], { cwd, env: { AMQP_URL } });
}
