// The Python peer's rate: the bench's taskbus publisher sends bench.echo tasks to a Celery 5.2 worker
// (Debian's python3-celery, prefork -c 2, bench/py/bench_app.py); tasks/s from first publish to the moment
// the worker ran the last task (it writes that time to a file).
//   node --import tsx bench/celery-peer.ts [count]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { taskExchangeType, taskQueueArguments } from '@taskbus/runtime';
import { deleteQueue, start, type BenchProcess } from './flow.js';
import { PREFETCH, QUEUE_TYPE, URL as AMQP_URL } from './shared.js';

const PYTHON = '/usr/bin/python3';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Collects a child's output lines; `until` resolves once a line passes the test (rejects if the child exits first). */
function lines(child: ChildProcess, name: string): { output: () => string; until: (test: (line: string) => boolean, timeoutMs: number) => Promise<string> } {
  let output = '';
  const waiting = new Set<() => void>();
  const take = (d: Buffer) => {
    output += d.toString();
    for (const w of waiting) w();
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  child.once('exit', () => waiting.forEach((w) => w()));
  const until = (test: (line: string) => boolean, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`${name}: timed out after ${timeoutMs} ms:\n${output.slice(-4000)}`)), timeoutMs);
      const finish = (result: string | Error) => {
        clearTimeout(timer);
        waiting.delete(check);
        if (typeof result === 'string') resolve(result);
        else reject(result);
      };
      const check = () => {
        const line = output.split('\n').slice(0, -1).find(test); // complete lines only
        if (line !== undefined) finish(line);
        else if (child.exitCode !== null || child.signalCode !== null) finish(new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${output.slice(-4000)}`));
      };
      waiting.add(check);
      check();
    });
  return { output: () => output, until };
}

/** Warm shutdown of the worker's main process, then SIGKILL to whatever is left of its process group (pool children). */
async function stopWorker(worker: ChildProcess): Promise<void> {
  const pid = worker.pid!;
  if (worker.exitCode === null && worker.signalCode === null) {
    const exited = new Promise((r) => worker.once('exit', r));
    worker.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000).unref())]);
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is gone already.
  }
}

export async function measureCeleryPeer(count: number): Promise<{ rate: number } | { skipped: string }> {
  if (spawnSync(PYTHON, ['-c', 'import celery'], { stdio: 'ignore' }).status !== 0) return { skipped: 'python3-celery not installed' };
  // Celery 5.2 sets a global QoS, which quorum queues refuse; its quorum support starts with 5.5.
  if (QUEUE_TYPE !== 'classic') return { skipped: `Celery 5.2 cannot consume ${QUEUE_TYPE} queues` };
  const queue = `bench-celery-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'taskbus-bench-celery-'));
  const done = join(dir, 'done');
  // Its own process group, so that the prefork children can be reaped with it.
  const worker = spawn(
    PYTHON,
    ['-m', 'celery', '-A', 'bench_app', 'worker', '-Q', queue, '--pool', 'prefork', '-c', '2', '-n', `${queue}@%h`, '--without-gossip', '--without-mingle', '--without-heartbeat', '-l', 'WARNING'],
    {
      cwd: join(ROOT, 'bench/py'),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        AMQP_URL,
        BENCH_QUEUE: queue,
        BENCH_QUEUE_ARGS: JSON.stringify(taskQueueArguments(queue, QUEUE_TYPE)),
        BENCH_EXCHANGE_TYPE: taskExchangeType(QUEUE_TYPE),
        BENCH_COUNT: String(count),
        BENCH_DONE: done,
        BENCH_PREFETCH: String(PREFETCH),
      },
    },
  );
  const py = lines(worker, 'celery worker');
  let publisher: BenchProcess | undefined;
  try {
    await py.until((l) => l.endsWith('bench-ready'), 60_000); // Celery logs what the app prints
    const results: string[] = [];
    publisher = await start('publisher.ts', ['taskbus', queue, String(count), '0'], (line) => results.push(line));
    const exited = once(publisher, 'exit');
    publisher.stdin.write('go\n');
    await exited;
    if (!results[0]) throw new Error('bench/publisher.ts exited without its result');
    const { startAt } = JSON.parse(results[0]) as { startAt: number };
    // Generous: a worker far slower than Celery's usual ~2,000/s here still finishes.
    const deadline = Date.now() + 60_000 + count * 10;
    while (!existsSync(done)) {
      if (worker.exitCode !== null || worker.signalCode !== null) throw new Error(`celery worker exited early:\n${py.output().slice(-4000)}`);
      if (Date.now() > deadline) throw new Error(`celery worker did not run ${count} tasks in time:\n${py.output().slice(-4000)}`);
      await sleep(20);
    }
    const endAt = Number(readFileSync(done, 'utf8'));
    return { rate: (count / (endAt - startAt)) * 1000 };
  } finally {
    if (publisher?.exitCode === null) publisher.kill('SIGTERM');
    await stopWorker(worker);
    await deleteQueue(queue);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await measureCeleryPeer(Number(process.argv[2] ?? 20_000)));
}
