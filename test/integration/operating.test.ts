import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { connectClient, silentLogger, type TaskClient } from '@taskbus/runtime';
import { expect } from 'chai';
import { createPusherClient } from 'pusher-bindings';
import { startLocalS3, type LocalS3 } from '../../scripts/local-s3.js';
import { AMQP_URL, rawBroker, waitFor } from '../support/broker.js';

// The pusher service as operators run it: LOG_FORMAT=json on stderr, metrics on METRICS_PORT (19100-19199 are ours).
const PUSHER = fileURLToPath(new URL('../../services/pusher/dist/main.js', import.meta.url));
const METRICS_PORT = 19_142;
const TASK_LINES = new Set(['task succeeded', 'task expired before it ran; discarded', 'delivery dead-lettered']);

interface Service {
  readonly child: ChildProcess;
  readonly lines: string[];
  exit(): Promise<number | null>;
}

function startPusher(env: Record<string, string>): Service {
  const child = spawn(process.execPath, [PUSHER], { env: { ...process.env, AMQP_URL, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, lines, exit: () => exited };
}

const parsed = (lines: readonly string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('operating the pusher service: JSON logs and /metrics on the real broker', function () {
  this.timeout(60_000);
  let s3: LocalS3;
  let client: TaskClient;
  let raw: Awaited<ReturnType<typeof rawBroker>>;

  before(async () => {
    s3 = await startLocalS3(['backups']);
    client = await connectClient({ logger: silentLogger });
    raw = await rawBroker();
  });

  after(async () => {
    await client?.close();
    for (const q of ['pusher', 'pusher.dlq']) await raw?.channel.deleteQueue(q);
    await raw?.channel.deleteExchange('pusher');
    await raw?.close();
    await s3?.close();
  });

  it('every line is a JSON object with time, level and message; task lines carry task and id; /metrics counts them', async () => {
    const service = startPusher({ ...s3.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info', METRICS_PORT: String(METRICS_PORT) });
    try {
      await waitFor('the worker to start', () => (service.lines.some((l) => l.includes('"worker started"')) ? true : undefined));
      const pusher = createPusherClient(client);
      const sent = [
        ...(await Promise.all([1, 2, 3].map((i) => pusher.sendToS3(`op/v1-${i}`, 'x')))),
        ...(await Promise.all([1, 2].map((i) => pusher.delegateSendToS3(2, `op/v2-${i}`, 'x', { contentType: 'text/plain' })))),
      ];
      for (const s of sent) await s.result({ timeoutMs: 15_000 });
      // What a client of ours does not send: one past its expiry, one for a task nobody serves.
      const expiredId = randomUUID();
      const unknownId = randomUUID();
      const body = Buffer.from(JSON.stringify([['k', 'c'], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]));
      const headers = (task: string, id: string, expires: string | null) => ({ lang: 'py', task, id, retries: 0, eta: null, expires });
      raw.channel.sendToQueue('pusher', body, { contentType: 'application/json', contentEncoding: 'utf-8', correlationId: expiredId, headers: headers('pusher.send_to_s3', expiredId, '2020-01-01T00:00:00.000000+00:00') });
      raw.channel.sendToQueue('pusher', body, { contentType: 'application/json', contentEncoding: 'utf-8', correlationId: unknownId, headers: headers('pusher.nobody', unknownId, null) });

      const metrics = await waitFor('the raw deliveries counted', async () => {
        const text = await (await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`)).text();
        return text.includes('reason="unknown-task"} 1') && text.includes('taskbus_worker_tasks_expired_total{task="pusher.send_to_s3",version="1"} 1') ? text : undefined;
      });
      const lines = metrics.split('\n');
      expect(lines).to.include.members([
        'taskbus_worker_tasks_succeeded_total{task="pusher.send_to_s3",version="1"} 3',
        'taskbus_worker_tasks_succeeded_total{task="pusher.send_to_s3_v2",version="2"} 2',
        'taskbus_worker_tasks_received_total{task="pusher.send_to_s3",version="1"} 4',
        'taskbus_worker_tasks_in_flight{task="pusher.send_to_s3",version="1"} 0',
        'taskbus_worker_task_duration_seconds_count{task="pusher.send_to_s3_v2",version="2"} 2',
        'taskbus_worker_tasks_dead_lettered_total{task="",version="",reason="unknown-task"} 1',
      ]);

      service.child.kill('SIGTERM');
      expect(await service.exit()).to.equal(0);
      const records = parsed(service.lines.filter((l) => l !== ''));
      for (const r of records) {
        expect(r['time']).to.be.a('string');
        expect(['debug', 'info', 'warn', 'error']).to.include(r['level']);
        expect(r['message']).to.be.a('string');
        expect(r['logger']).to.equal('taskbus-worker');
      }
      const taskLines = records.filter((r) => TASK_LINES.has(r['message'] as string));
      for (const r of taskLines) {
        expect(r['id'], JSON.stringify(r)).to.be.a('string').and.not.equal('');
        expect(r).to.have.property('task');
      }
      const succeeded = taskLines.filter((r) => r['message'] === 'task succeeded').map((r) => r['id']);
      expect(succeeded).to.have.members(sent.map((s) => s.id));
      expect(taskLines.find((r) => r['message'] === 'task expired before it ran; discarded')).to.include({ id: expiredId, task: 'pusher.send_to_s3', level: 'warn' });
      expect(taskLines.find((r) => r['message'] === 'delivery dead-lettered')).to.include({ id: unknownId, task: 'pusher.nobody', reason: 'unknown-task', level: 'error' });
      expect(records.map((r) => r['message'])).to.include.members(['worker started', 'worker stopped']);
      expect(records.find((r) => r['message'] === 'worker started')).to.include({ metrics: `http://127.0.0.1:${METRICS_PORT}/metrics` });
    } finally {
      service.child.kill('SIGKILL');
    }
  });

  it('LOG_LEVEL=warn drops the per-task lines; a bad LOG_LEVEL stops the service with a clear line', async () => {
    const quiet = startPusher({ ...s3.env, LOG_FORMAT: 'json', LOG_LEVEL: 'warn' });
    try {
      // No line at start: wait until the queue has its consumer, then send one task and stop.
      await waitFor('the consumer', async () => ((await raw.channel.checkQueue('pusher')).consumerCount === 1 ? true : undefined));
      await (await createPusherClient(client).sendToS3('op/quiet', 'x')).result({ timeoutMs: 15_000 });
      quiet.child.kill('SIGTERM');
      expect(await quiet.exit()).to.equal(0);
      expect(quiet.lines.filter((l) => l !== '')).to.deep.equal([]);
    } finally {
      quiet.child.kill('SIGKILL');
    }
    const bad = startPusher({ ...s3.env, LOG_LEVEL: 'verbose' });
    expect(await bad.exit()).to.equal(1);
    expect(bad.lines.join('\n')).to.include('LOG_LEVEL must be one of debug, info, warn, error; got "verbose"');
  });
});
