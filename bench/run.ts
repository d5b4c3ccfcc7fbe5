// taskbus against raw amqplib on the same broker in the same run: throughput and CPU per task, request/
// response, latency at a fixed offered rate, scaling over processes, Python Celery as a peer, the code
// generator, and (on request) a worker's memory over a long soak. Prints a table, then one JSON line.
//   npm run bench                       the default run, a few minutes
//   BENCH_N=20000 BENCH_TRIALS=3        tasks per throughput run, alternating trials (medians kept)
//   BENCH_ROUNDS=500                    request/response rounds per trial
//   BENCH_SOAK=1000000                  also the RSS soak over that many tasks (long)
//   BENCH_ONLY=throughput,rpc,...       sections: throughput rpc latency scaling celery generate soak
//   BENCH_QUEUE_TYPE=quorum             both sides on quorum queues
//   BENCH_CPU_PROF=<dir>                V8 CPU profiles of every publisher and consumer (bench/profile.ts reads them)
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { measureCeleryPeer } from './celery-peer.js';
import { flow, type FlowResult, type MemorySample } from './flow.js';
import { measureGenerate } from './generate.js';
import { roundTrips, RPC_SIDES, type RpcSide } from './rpc.js';
import { MODES, QUEUE_TYPE, type Mode } from './shared.js';
import { median, percentiles } from './stats.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const N = env('BENCH_N', 20_000);
const TRIALS = env('BENCH_TRIALS', 3);
const ROUNDS = env('BENCH_ROUNDS', 500);
const SOAK = env('BENCH_SOAK', 0);
const WARM_UP = 300_000;
const SECTIONS = new Set((process.env['BENCH_ONLY'] ?? 'throughput,rpc,latency,scaling,celery,generate,soak').split(','));
const report: Record<string, unknown> = {};

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const row = (cells: readonly string[]) => console.log(`| ${cells.join(' | ')} |`);
const table = (head: readonly string[]) => (row(head), row(head.map(() => '---')));

function brokerVersion(): string {
  try {
    return /RabbitMQ version: (\S+)/.exec(execFileSync('rabbitmqctl', ['status'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
report['machine'] = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, rabbitmq: brokerVersion(), queueType: QUEUE_TYPE };
console.log(`${cpus().length} x ${cpus()[0]?.model}, Node ${process.version}, RabbitMQ ${String((report['machine'] as { rabbitmq: string }).rabbitmq)}, ${QUEUE_TYPE} queues`);

/** Medians over the trials of each measure. */
function medians(runs: readonly FlowResult[]): FlowResult {
  const m = (pick: (r: FlowResult) => number | undefined) => median(runs.map(pick).filter((x): x is number => x !== undefined));
  const latency = runs[0]?.p50Ms === undefined ? {} : { p50Ms: m((r) => r.p50Ms), p99Ms: m((r) => r.p99Ms) };
  return { rate: m((r) => r.rate), publisherUs: m((r) => r.publisherUs), consumerUs: m((r) => r.consumerUs), ...latency };
}

let maxRate = 0;
if (SECTIONS.has('throughput')) {
  const runs: Record<Mode, FlowResult[]> = { 'raw-plain': [], 'raw-celery': [], taskbus: [] };
  for (let trial = 0; trial < TRIALS; trial++) for (const mode of MODES) runs[mode].push(await flow({ mode, count: N }));
  const m = Object.fromEntries(MODES.map((mode) => [mode, medians(runs[mode])])) as Record<Mode, FlowResult>;
  const cpu = (r: FlowResult) => r.publisherUs + r.consumerUs;
  console.log(`\nThroughput: ${int(N)} tasks of ~900 bytes, 1 publisher and 1 consumer process, confirms, manual acks, prefetch 100 (median of ${TRIALS})`);
  table(['sender -> consumer', 'tasks/s', 'trials', 'CPU us/task (publisher + consumer)', 'vs raw Celery message', 'vs raw plain']);
  const label: Record<Mode, string> = { 'raw-plain': 'raw amqplib, plain JSON, no headers', 'raw-celery': 'raw amqplib, the Celery message', taskbus: 'taskbus bindings -> taskbus worker' };
  for (const mode of MODES) {
    const r = m[mode];
    row([label[mode], int(r.rate), runs[mode].map((x) => int(x.rate)).join(', '), `${f1(cpu(r))} (${f1(r.publisherUs)} + ${f1(r.consumerUs)})`, `${f2(r.rate / m['raw-celery'].rate)}x rate, ${f2(cpu(r) / cpu(m['raw-celery']))}x CPU`, `${f2(r.rate / m['raw-plain'].rate)}x rate, ${f2(cpu(r) / cpu(m['raw-plain']))}x CPU`]);
  }
  maxRate = m.taskbus.rate;
  report['throughput'] = { n: N, trials: TRIALS, ...m, ratios: { vsRawCelery: m.taskbus.rate / m['raw-celery'].rate, cpuVsRawCelery: cpu(m.taskbus) / cpu(m['raw-celery']), vsRawPlain: m.taskbus.rate / m['raw-plain'].rate } };
}

if (SECTIONS.has('rpc')) {
  const runs: Record<RpcSide, number[][]> = { 'raw-plain': [], 'raw-celery': [], taskbus: [] };
  for (let trial = 0; trial < TRIALS; trial++) {
    const trialRuns = await roundTrips(ROUNDS);
    for (const side of RPC_SIDES) runs[side].push(trialRuns[side]);
  }
  const p = (side: RpcSide) => ({ p50: median(runs[side].map((r) => percentiles(r).p50)), p99: median(runs[side].map((r) => percentiles(r).p99)) });
  const [plain, celery, b] = [p('raw-plain'), p('raw-celery'), p('taskbus')];
  console.log(`\nRequest/response, concurrency 1: a confirmed persistent request and its reply, ${ROUNDS} rounds each, taking turns (ms, median of ${TRIALS})`);
  table(['', 'p50', 'p99', 'taskbus p50 vs this']);
  row(['raw amqplib, plain message', f2(plain.p50), f2(plain.p99), `${f2(b.p50 / plain.p50)}x`]);
  row(['raw amqplib, Celery message', f2(celery.p50), f2(celery.p99), `${f2(b.p50 / celery.p50)}x`]);
  row(['taskbus send + result()', f2(b.p50), f2(b.p99), '']);
  report['rpc'] = { rounds: ROUNDS, rawPlain: plain, rawCelery: celery, taskbus: b, p50Ratio: b.p50 / plain.p50, p50RatioVsRawCelery: b.p50 / celery.p50 };
}

if (SECTIONS.has('latency')) {
  // Half of what taskbus sustained flat out (measured above, else now), offered evenly to both sides.
  maxRate ||= (await flow({ mode: 'taskbus', count: N })).rate;
  const rate = Math.round(maxRate / 2);
  const count = Math.max(2000, Math.min(N, rate * 5));
  const runs: Record<'raw-celery' | 'taskbus', FlowResult[]> = { 'raw-celery': [], taskbus: [] };
  for (let trial = 0; trial < TRIALS; trial++) for (const mode of ['raw-celery', 'taskbus'] as const) runs[mode].push(await flow({ mode, count, rate, latency: true }));
  const [r, b] = [medians(runs['raw-celery']), medians(runs.taskbus)];
  console.log(`\nLatency at a steady ${int(rate)} tasks/s (half of taskbus's maximum), ${int(count)} tasks, publish to handler (ms, median of ${TRIALS})`);
  table(['', 'p50', 'p99']);
  row(['raw amqplib, the Celery message', f2(r.p50Ms!), f2(r.p99Ms!)]);
  row(['taskbus', f2(b.p50Ms!), f2(b.p99Ms!)]);
  report['latency'] = { rate, count, rawCelery: { p50: r.p50Ms, p99: r.p99Ms }, taskbus: { p50: b.p50Ms, p99: b.p99Ms } };
}

if (SECTIONS.has('scaling')) {
  console.log(`\nScaling: taskbus, ${int(N)} tasks, worker and publisher processes on the same ${cpus().length} cores as the broker`);
  table(['worker processes', '1 publisher: tasks/s', '4 publishers: tasks/s']);
  const results: { workers: number; publishers: number; rate: number }[] = [];
  for (const workers of [1, 2, 4]) {
    const rates = [];
    for (const publishers of [1, 4]) {
      const { rate } = await flow({ mode: 'taskbus', count: N, consumers: workers, publishers });
      results.push({ workers, publishers, rate });
      rates.push(int(rate));
    }
    row([String(workers), ...rates]);
  }
  report['scaling'] = results;
}

if (SECTIONS.has('celery')) {
  const count = Math.min(N, 10_000);
  const peer = await measureCeleryPeer(count);
  console.log(`\nPython Celery 5.2 peer: prefork -c2 worker, ${int(count)} tasks from a taskbus publisher`);
  if ('skipped' in peer) console.log(`  skipped: ${peer.skipped}`);
  else {
    const ts = (report['throughput'] as { taskbus?: FlowResult } | undefined)?.taskbus?.rate;
    console.log(`  ${int(peer.rate)} tasks/s${ts ? `; the taskbus worker above: ${int(ts)} tasks/s (${f1(ts / peer.rate)}x)` : ''}`);
  }
  report['celery'] = peer;
}

if (SECTIONS.has('generate')) {
  const g = await measureGenerate(200);
  console.log(`\ntaskbus generate: ${g.contracts} contracts -> ${int(g.files)} files (ms)`);
  table(['first run', 'again, unchanged', 'one contract edited']);
  row([int(g.cold), int(g.unchanged), int(g.oneEdited)]);
  report['generate'] = g;
}

if (SECTIONS.has('soak') && SOAK > 0) {
  const samples: MemorySample[] = [];
  const r = await flow({ mode: 'taskbus', count: SOAK, onMemory: (s) => samples.push(s) });
  const mib = (pick: (s: MemorySample) => number) => samples.map((s) => pick(s) / 2 ** 20);
  const spread = (xs: number[]) => (xs.length ? Math.max(...xs) / Math.min(...xs) - 1 : NaN);
  const rss = mib((s) => s.rss);
  const heap = mib((s) => s.heapUsed);
  // V8 sizes its young generation and the allocator its arenas over the first few hundred thousand tasks:
  // RSS rises then, while the live heap is flat from the first sample.
  const settled = samples.findIndex((s) => s.seen > WARM_UP);
  const [rssAfter, heapAfter] = settled < 0 ? [[], []] : [rss.slice(settled), heap.slice(settled)];
  console.log(`\nSoak: ${int(SOAK)} tasks at ${int(r.rate)} tasks/s; the worker's memory every 100,000 tasks (MiB)`);
  console.log(`  RSS:                ${rss.map(f1).join(', ')}`);
  console.log(`  live heap after GC: ${heap.map(f1).join(', ')}`);
  console.log(`  after the first ${int(WARM_UP)} (warm-up): RSS max/min ${f2(1 + spread(rssAfter))}, live heap max/min ${f2(1 + spread(heapAfter))}; flat means within 1.10`);
  report['soak'] = { tasks: SOAK, rate: r.rate, rssMiB: rss, heapMiB: heap, externalMiB: mib((s) => s.external), warmUp: WARM_UP, rssSpread: spread(rssAfter), heapSpread: spread(heapAfter) };
} else if (SECTIONS.has('soak')) console.log('\nSoak: skipped (BENCH_SOAK=1000000 runs it)');

console.log(JSON.stringify(report));
