import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectClient, silentLogger, TaskbusError, type ClientOptions, type TaskClient } from '@taskbus/runtime';
import { deleteQueues, rawBroker, waitFor } from '../support/broker.js';
import { faultTask } from './task.js';

/** CI runs the suite small; `npm run faults` (FAULT_SCALE=full) at the sizes the README reports. */
export const FULL = process.env['FAULT_SCALE'] === 'full';
export const size = (ci: number, full: number): number => (FULL ? full : ci);

export function rabbitmqctl(...args: string[]): string {
  return execFileSync('rabbitmqctl', args, { encoding: 'utf8', timeout: 120_000 });
}

/** Waits until the broker accepts connections again (after stop_app, SIGSTOP, ...). */
export async function brokerUp(): Promise<void> {
  await waitFor('the broker to accept connections', async () => {
    const raw = await rawBroker();
    await raw.close();
    return true;
  }, 120_000);
}

export interface Tally {
  readonly name: string;
  readonly n: number;
  readonly confirmed: number;
  readonly lost: number;
  readonly dup: number;
}

/** Prints one result line per case: N, lost, dup (the README's table is made from a full run). */
export function report(t: Tally): Tally {
  process.stdout.write(`      fault ${t.name}: N=${t.n} confirmed=${t.confirmed} lost=${t.lost} dup=${t.dup}\n`);
  return t;
}

/** A worker in its own process, killable, recording handled ids in a file. */
export class WorkerProcess {
  private child: ChildProcess | null = null;
  /** The end of the worker's log (stderr), for a failing case to show. */
  stderr = '';
  readonly out: string;
  private readonly dir: string;

  constructor(
    readonly queue: string,
    private readonly env: Record<string, string> = {},
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'taskbus-fault-'));
    this.out = join(this.dir, 'handled.txt');
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/faults/worker-proc.ts'], {
      env: { ...process.env, FAULT_QUEUE: this.queue, FAULT_OUT: this.out, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let started = false;
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-200_000)));
    child.stdout!.on('data', (d: Buffer) => (started ||= d.toString().includes('started')));
    await waitFor('the worker process to start', () => {
      if (child.exitCode !== null) throw new Error(`worker exited ${child.exitCode}: ${this.stderr.slice(-4000)}`);
      return started ? true : undefined;
    }, 30_000);
  }

  async kill(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    child.kill(signal);
    const [code] = (await once(child, 'exit')) as [number | null];
    this.child = null;
    return code;
  }

  handled(): string[] {
    return existsSync(this.out) ? readFileSync(this.out, 'utf8').split('\n').filter(Boolean) : [];
  }

  async dispose(): Promise<void> {
    await this.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Published {
  readonly confirmed: Set<string>;
  readonly rejected: Map<string, string>;
  /** Ids sent once the fault was over (all of them when there was none). */
  readonly after: readonly string[];
}

/**
 * Publishes tasks keeping `window` unconfirmed at a time (confirms pipelined, never awaited one by one),
 * at least n of them and for as long as `more()` says. Every call must settle: confirmed, or rejected
 * with a typed taskbus error.
 */
export async function publish(client: TaskClient, queue: string, n: number, more: () => boolean = () => false, window = 200, prefix = queue): Promise<Published> {
  const spec = faultTask(queue);
  const confirmed = new Set<string>();
  const rejected = new Map<string, string>();
  const after: string[] = [];
  const inflight = new Set<Promise<void>>();
  for (let i = 0; i < n || more(); i++) {
    const id = `${prefix}-${i}`;
    if (!more()) after.push(id);
    const p = client.send(spec, [i], {}, { taskId: id, ignoreResult: true }).then(
      () => void confirmed.add(id),
      (e: unknown) => void rejected.set(id, e instanceof TaskbusError ? e.code : `untyped: ${String(e)}`),
    );
    const tracked = p.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
    if (inflight.size >= window) await Promise.race(inflight);
    else if (rejected.size > 0) await new Promise((r) => setTimeout(r, 5)); // do not spin on a full buffer
  }
  await Promise.all(inflight);
  return { confirmed, rejected, after };
}

export function tally(name: string, n: number, published: Published, handled: readonly string[]): Tally {
  const unique = new Set(handled);
  const lost = [...published.confirmed].filter((id) => !unique.has(id)).length;
  return report({ name, n, confirmed: published.confirmed.size, lost, dup: handled.length - unique.size });
}

/** Log lines with runs of the same message (one per delivery) folded into one line and a count. */
function collapsed(log: string): string[] {
  const out: string[] = [];
  let last = '';
  let run = 0;
  const flush = (): void => void (run > 1 && out.push(`        ... and ${run - 1} more like it`));
  for (const line of log.split('\n').filter(Boolean)) {
    const message = line.replace(/ \w+=.*$/, '');
    if (message === last) run++;
    else {
      flush();
      out.push(line);
      last = message;
      run = 1;
    }
  }
  flush();
  return out;
}

export function faultClient(options: ClientOptions = {}): Promise<TaskClient> {
  return connectClient({ logger: silentLogger, reconnect: { initialMs: 100, maxMs: 2000 }, ...options });
}

/** rabbitmqctl without blocking the event loop, so publishers and consumers keep running meanwhile. */
export function rabbitmqctlAsync(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('rabbitmqctl', args, { encoding: 'utf8', timeout: 120_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One broker-fault case: a worker process consumes while this process publishes; the fault starts after
 * a short warm-up and publishing goes on throughout it, then n more. Every publish must settle, and every
 * confirmed task must be handled.
 */
export async function underFault(
  name: string,
  n: number,
  fault: () => Promise<void>,
  options: { client?: ClientOptions; workerEnv?: Record<string, string> } = {},
): Promise<{ tally: Tally; published: Published }> {
  const queue = `fault-${name.replace(/\W+/g, '-')}-${process.pid}`;
  const worker = new WorkerProcess(queue, options.workerEnv);
  const client = await faultClient({ confirmTimeoutMs: 45_000, ...options.client });
  try {
    await worker.start();
    let faultOver = false;
    const faulted = sleep(200)
      .then(fault)
      .finally(() => (faultOver = true));
    const published = await publish(client, queue, n, () => !faultOver);
    await faulted;
    await waitFor('every confirmed task to be handled', () => {
      const handled = new Set(worker.handled());
      return [...published.confirmed].every((id) => handled.has(id)) ? true : undefined;
    }, 180_000).catch(() => undefined);
    await worker.kill('SIGTERM');
    const sent = published.confirmed.size + published.rejected.size;
    const result = tally(name, sent, published, worker.handled());
    // A loss is only diagnosable from the worker's side of the story.
    if (result.lost > 0) process.stdout.write(`      worker log (end):\n${collapsed(worker.stderr).slice(-40).join('\n')}\n`);
    return { tally: result, published };
  } finally {
    await client.close();
    await worker.dispose();
    await deleteQueues(queue);
  }
}
