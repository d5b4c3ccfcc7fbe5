// One measured flow: P publisher processes send `count` tasks in all to a fresh queue that C consumer
// processes take, and the figures both sides report once every task is handled.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import amqp from 'amqplib';
import { URL, type Mode } from './shared.js';

export interface FlowOptions {
  readonly mode: Mode;
  readonly count: number;
  readonly publishers?: number;
  readonly consumers?: number;
  /** Offered rate per second over all publishers; 0 (default) = flat out. */
  readonly rate?: number;
  /** Measure send-to-handled latency (numbers carry their send time). */
  readonly latency?: boolean;
  /** Called with each memory line a consumer prints (every 100,000 deliveries). */
  readonly onMemory?: (sample: MemorySample) => void;
}

export interface FlowResult {
  /** Tasks per second, first publish to last handled. */
  readonly rate: number;
  /** CPU per task in us, all publishers and all consumers. */
  readonly publisherUs: number;
  readonly consumerUs: number;
  /** Send-to-handled latency of the first consumer (ms), when asked for. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
}

/** A consumer's memory: RSS, and the live heap and external memory after a full collection (bytes). */
export interface MemorySample {
  readonly seen: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
}

export type BenchProcess = ChildProcessByStdio<Writable, Readable, null>;

/** BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every bench process there (see bench/profile.ts). */
const PROFILE = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`] : [];

/** A bench process speaking lines: resolves once it printed "ready". */
export async function start(script: string, args: readonly string[], onLine: (line: string) => void): Promise<BenchProcess> {
  const child = spawn(process.execPath, [...PROFILE, '--expose-gc', '--import', 'tsx', `bench/${script}`, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buffered = '';
  await new Promise<void>((ready, failed) => {
    child.once('exit', (code) => failed(new Error(`bench/${script} exited with ${code} before it was ready`)));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === 'ready') ready();
        else onLine(line);
      }
    });
  });
  child.removeAllListeners('exit');
  return child;
}

export async function flow(o: FlowOptions): Promise<FlowResult> {
  const queue = `bench-${o.mode}-${randomUUID().slice(0, 8)}`;
  const publishers = o.publishers ?? 1;
  const consumers = o.consumers ?? 1;
  const reports = new Map<number, { seen: number; lastAt: number; cpuUs: number; p50?: number; p99?: number }>();
  const cons: BenchProcess[] = [];
  for (let i = 0; i < consumers; i++) {
    cons.push(
      await start('consumer.ts', [o.mode, queue, ...(o.latency ? ['latency'] : [])], (line) => {
        const r = JSON.parse(line) as MemorySample | { seen: number; lastAt: number; cpuUs: number; p50?: number; p99?: number };
        if ('lastAt' in r) reports.set(i, r);
        else o.onMemory?.(r);
      }),
    );
  }
  const results: { startAt: number; endAt: number; cpuUs: number }[] = [];
  const pubs: BenchProcess[] = [];
  const share = Math.ceil(o.count / publishers);
  for (let i = 0; i < publishers; i++) {
    const n = Math.min(share, o.count - i * share);
    const rate = o.rate ? o.rate / publishers : 0;
    pubs.push(await start('publisher.ts', [o.mode, queue, String(n), String(rate), ...(o.latency ? ['stamp'] : [])], (line) => results.push(JSON.parse(line))));
  }
  for (const p of pubs) p.stdin.write('go\n');
  await Promise.all(pubs.map((p) => new Promise((r) => p.once('exit', r))));
  if (results.length !== publishers) throw new Error(`${publishers - results.length} publisher(s) failed`);
  // Ask the consumers until every task is handled; the figure is when the last one was, not when we asked.
  let seen = 0;
  for (;;) {
    reports.clear();
    for (const c of cons) c.stdin.write('report\n');
    while (reports.size < consumers) await new Promise((r) => setTimeout(r, 5));
    seen = [...reports.values()].reduce((a, r) => a + r.seen, 0);
    if (seen >= o.count) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const c of cons) c.kill('SIGTERM');
  await deleteQueue(queue);
  const all = [...reports.values()];
  const startAt = Math.min(...results.map((r) => r.startAt));
  const endAt = Math.max(...all.map((r) => r.lastAt));
  const first = reports.get(0)!;
  return {
    rate: (o.count / (endAt - startAt)) * 1000,
    publisherUs: results.reduce((a, r) => a + r.cpuUs, 0) / o.count,
    consumerUs: all.reduce((a, r) => a + r.cpuUs, 0) / o.count,
    ...(o.latency ? { p50Ms: first.p50! / 1000, p99Ms: first.p99! / 1000 } : {}),
  };
}

/** The bench's own queue, its dead-letter queue and exchange (taskbus declares both). */
export async function deleteQueue(queue: string): Promise<void> {
  const conn = await amqp.connect(URL);
  const ch = await conn.createChannel();
  await ch.deleteQueue(queue);
  await ch.deleteQueue(`${queue}.dlq`);
  await ch.deleteExchange(queue);
  await conn.close();
}
