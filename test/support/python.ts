import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { AMQP_URL, waitFor } from './broker.js';
import { runProcess, type ProcessRun } from './process.js';

export const PYTHON = '/usr/bin/python3';
export const PY_DIR = join(process.cwd(), 'test/interop/py');
export const PY_BINDINGS = join(process.cwd(), 'generated/pusher-bindings/python');

export interface PythonWorker {
  readonly output: () => string;
  stop(): Promise<void>;
}

/** A real Celery 5 worker (Debian's python3-celery) on the given queue, running test/interop/py/pusher_app.py. */
export async function startCeleryWorker(queue: string, outDir: string): Promise<PythonWorker> {
  const child: ChildProcess = spawn(
    PYTHON,
    ['-m', 'celery', '-A', 'pusher_app', 'worker', '-Q', queue, '-P', 'solo', '-n', `${queue}@%h`, '--without-gossip', '--without-mingle', '--without-heartbeat', '-l', 'INFO'],
    { cwd: PY_DIR, env: { ...process.env, AMQP_URL, INTEROP_OUT: outDir }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor('the Celery worker to be ready', () => {
    if (child.exitCode !== null) throw new Error(`celery worker exited ${child.exitCode}:\n${output}`);
    return /\bready\.\s*$/m.test(output) ? true : undefined;
  }, 30_000);
  return {
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    },
  };
}

/** Runs a Python script of test/interop/py with the generated bindings importable. */
export function runPython(script: string, args: readonly string[]): Promise<ProcessRun> {
  return runProcess(PYTHON, [script, ...args], { cwd: PY_DIR, env: { AMQP_URL, PYTHONPATH: PY_BINDINGS } });
}
