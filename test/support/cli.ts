import { join } from 'node:path';
import { AMQP_URL } from './broker.js';
import { runProcess, type ProcessRun } from './process.js';

/** The checked-in bin shim of @taskbus/cli, as `npx taskbus` runs it. */
export const TASKBUS_BIN = join(process.cwd(), 'cli/bin/taskbus.js');

/** Runs the `taskbus` CLI as a user would, in the given directory. */
export function taskbus(cwd: string, ...args: string[]): Promise<ProcessRun> {
  return runProcess(process.execPath, [TASKBUS_BIN, ...args], { cwd, env: { AMQP_URL } });
}
