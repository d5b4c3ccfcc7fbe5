import { createServer, type IncomingMessage } from 'node:http';
import { expect } from 'chai';
import { Guard, sameSecret, SESSION_TTL_MS } from '../../../cli/src/ui/auth.js';
import { uiToken } from '../../../cli/src/ui/command.js';
import { doneByQueue, queueOfTask } from '../../../cli/src/ui/collect.js';
import { counterRate, History, MAX_SAMPLES, type Sample } from '../../../cli/src/ui/history.js';
import { addCounts, parseTaskMetrics, scrapeText, taskKey } from '../../../cli/src/ui/prometheus.js';
import { describeWorkers, MAX_ACTIVE_SHOWN, MAX_NAMES, MAX_WORKERS, metricsUrl, workerLanguage } from '../../../cli/src/ui/workers.js';

const SCRAPE = `# HELP taskbus_worker_tasks_succeeded_total Tasks whose handler succeeded
# TYPE taskbus_worker_tasks_succeeded_total counter
taskbus_worker_tasks_succeeded_total{task="pusher.send_to_s3",version="1"} 7
taskbus_worker_tasks_succeeded_total{task="pusher.send_to_s3_v2",version="2"} 3
taskbus_worker_tasks_failed_total{task="pusher.send_to_s3",version="1"} 2
taskbus_worker_tasks_dead_lettered_total{task="pusher.send_to_s3",version="1",reason="failed"} 2
taskbus_worker_tasks_dead_lettered_total{task="pusher.send_to_s3",version="1",reason="rejected"} 1
taskbus_worker_task_duration_seconds_bucket{le="0.005",task="pusher.send_to_s3",version="1"} 9
taskbus_worker_task_duration_seconds_sum{task="pusher.send_to_s3",version="1"} 0.45
taskbus_worker_task_duration_seconds_count{task="pusher.send_to_s3",version="1"} 9
taskbus_worker_tasks_in_flight{task="evil\\"<b>\\nx",version="1"} 1
process_cpu_seconds_total 12
taskbus_worker_tasks_failed_total{task="broken" 5
taskbus_worker_tasks_failed_total{task="neg",version="1"} -3
`;

describe('taskbus ui: metrics parsing', () => {
  it('reads the task counters per task and version, sums dead letters over reasons, skips other and malformed lines', () => {
    const m = parseTaskMetrics(SCRAPE);
    expect(m.get(taskKey('pusher.send_to_s3', '1'))).to.deep.equal({
      task: 'pusher.send_to_s3',
      version: '1',
      received: 0,
      succeeded: 7,
      failed: 2,
      retried: 0,
      deadLettered: 3,
      inFlight: 0,
      durationSum: 0.45,
      durationCount: 9,
    });
    expect(m.get(taskKey('pusher.send_to_s3_v2', '2'))?.succeeded).to.equal(3);
    expect(m.get(taskKey('evil"<b>\nx', '1'))?.inFlight, 'escaped label values are unescaped').to.equal(1);
    expect([...m.values()].map((c) => c.task)).to.not.include.members(['broken', 'neg']);
  });

  it('a hostile scrape naming Object.prototype members (constructor, __proto__, toString) adds nothing', () => {
    const m = parseTaskMetrics('constructor{task="x",version="1"} 1\n__proto__{task="x",version="1"} 2\ntoString{task="x"} 3\n');
    expect([...m.keys()]).to.deep.equal([]);
    expect(({} as Record<string, unknown>)['x']).to.equal(undefined);
  });

  it('a scrape is bounded in size (also without content-length) and in time, and never leaves the address checks', async () => {
    // Port 18140 is this test's (the worktree's range).
    let sent = 0;
    const server = createServer((req, res) => {
      if (req.url === '/slow') return void res.writeHead(200).write('# slow\n'); // never ends
      res.writeHead(200, { 'content-type': 'text/plain' }); // chunked: no content-length
      const chunk = Buffer.alloc(64 * 1024, 'x\n');
      const pump = () => {
        while (sent < 200 * 1024 * 1024 && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(18_140, '127.0.0.1', resolve));
    try {
      const big = await scrapeText('http://127.0.0.1:18140/metrics', { maxBytes: 1024 * 1024, timeoutMs: 5000 }).then(
        () => 'read',
        (e: Error) => e.message,
      );
      expect(big).to.match(/too large/);
      expect(sent, 'the server was cut off, not read to the end').to.be.below(50 * 1024 * 1024);
      const started = Date.now();
      const slow = await scrapeText('http://127.0.0.1:18140/slow', { maxBytes: 1024, timeoutMs: 300 }).then(
        () => 'read',
        (e: Error) => e.message,
      );
      expect(slow).to.match(/took over 300 ms/);
      expect(Date.now() - started).to.be.below(2000);
      const meta = await scrapeText('http://localhost:18140/metrics', { maxBytes: 1024, timeoutMs: 1000, refuse: (a) => a.startsWith('127.') || a === '::1' }).then(
        () => 'read',
        (e: Error) => e.message,
      );
      expect(meta).to.match(/not scraped/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('adds up the counts of several workers', () => {
    const total = new Map();
    addCounts(total, parseTaskMetrics(SCRAPE));
    addCounts(total, parseTaskMetrics(SCRAPE));
    expect(total.get(taskKey('pusher.send_to_s3', '1')).succeeded).to.equal(14);
  });
});

describe('taskbus ui: rates', () => {
  const sample = (at: number, ready: number, succeeded: number, durationSum = 0, durationCount = 0): Sample => ({
    at,
    queues: new Map([['q', ready]]),
    tasks: new Map([['t', { succeeded, failed: 0, durationSum, durationCount }]]),
  });

  it('counter rates per second; a counter that went down was reset', () => {
    expect(counterRate(10, 40, 10)).to.equal(3);
    expect(counterRate(100, 5, 5)).to.equal(1);
    expect(counterRate(1, 2, 0)).to.equal(0);
  });

  it('over the last minute: queue trend per minute, done per second, mean duration of the window', () => {
    const h = new History();
    expect(h.taskRates('t')).to.equal(null);
    h.add(sample(0, 100, 0));
    expect(h.queueTrend('q'), 'one sample is no trend').to.equal(null);
    h.add(sample(30_000, 90, 30, 1, 10));
    h.add(sample(90_000, 40, 150, 7, 40));
    // The window is the last 60 s: from the sample at 30 s to the one at 90 s.
    expect(h.queueTrend('q')).to.equal(-50);
    expect(h.taskRates('t')).to.deep.equal({ succeeded: 2, failed: 0, meanSeconds: 0.2 });
    expect(h.taskSeries('t')).to.deep.equal([0, 1, 2]);
  });

  it('keeps ten minutes of samples', () => {
    const h = new History();
    for (let t = 0; t <= 20 * 60_000; t += 60_000) h.add(sample(t, 0, 0));
    expect(h.all().length).to.equal(11);
  });

  it('keeps at most MAX_SAMPLES however short the interval, with queues and tasks coming and going', () => {
    const h = new History();
    for (let t = 0; t <= 20 * 60_000; t += 500) {
      h.add({ at: t, queues: new Map([[`q${t}`, 1]]), tasks: new Map([[taskKey(`t${t}`, '1'), { succeeded: 1, failed: 0, durationSum: 0, durationCount: 0 }]]) });
    }
    expect(h.all().length).to.equal(MAX_SAMPLES);
    expect(h.all().at(-1)!.at).to.equal(20 * 60_000);
  });
});

describe('taskbus ui: done per second per queue', () => {
  it("sums the finished-per-second of each queue's tasks; tasks without a queue or rates count nowhere", () => {
    const task = (name: string, rates: { succeeded: number; failed: number } | null) => ({ task: name, version: '1', workers: [], metrics: null, celeryTotal: null, rates: rates && { ...rates, meanSeconds: null } });
    const queues: Record<string, string> = { a: 'q1', b: 'q1', c: 'q2' };
    const done = doneByQueue([task('a', { succeeded: 1, failed: 0.5 }), task('b', { succeeded: 2, failed: 0 }), task('c', null), task('d', { succeeded: 9, failed: 9 })], (t) => queues[t.task] ?? null);
    expect([...done]).to.deep.equal([['q1', 3.5]]);
  });

  it("a task's queue: the one its workers consume (started on another queue than the contract's), else the contract's", () => {
    const queuesOf = new Map([['w1', ['pusher-test']], ['w2', ['a', 'pusher']], ['w3', ['a', 'b']]]);
    expect(queueOfTask({ workers: ['w1'] }, queuesOf, 'pusher')).to.equal('pusher-test');
    expect(queueOfTask({ workers: [] }, queuesOf, 'pusher')).to.equal('pusher');
    expect(queueOfTask({ workers: ['w2'] }, queuesOf, 'pusher')).to.equal('pusher');
    expect(queueOfTask({ workers: ['w3'] }, queuesOf, 'pusher'), 'its workers consume others only: unknown').to.equal(null);
    expect(queueOfTask({ workers: ['w3'] }, queuesOf, undefined)).to.equal(null);
  });
});

describe('taskbus ui: workers', () => {
  const tsStats = { sw_ident: 'taskbus', sw_ver: '0.1.0', pid: 10, uptime: 5, total: { 'a.b': 3 }, pool: { implementation: 'taskbus (node event loop)' }, taskbus_metrics: { host: '127.0.0.1', port: 9464, path: '/metrics' } };
  // As Celery 5.2's solo pool answers (celery/worker/worker.py stats()).
  const pyStats = { total: { 'pusher.send_to_s3': 4 }, pid: 11, clock: '12', uptime: 3, pool: { 'max-concurrency': 1, processes: [11], 'max-tasks-per-child': null, 'put-guarded-by-semaphore': true, timeouts: [] }, broker: { hostname: 'h' }, prefetch_count: 4, rusage: {} };

  it('language from stats: taskbus says sw_ident, Celery is known by the shape of its stats', () => {
    expect(workerLanguage(tsStats)).to.equal('TypeScript');
    expect(workerLanguage(pyStats)).to.equal('Python');
    expect(workerLanguage({ error: 'x' })).to.equal('unknown');
    expect(workerLanguage({ sw_ident: 'other', clock: '1', pool: { 'max-concurrency': 1 } })).to.equal('unknown');
    expect(workerLanguage(null)).to.equal('unknown');
  });

  it("metrics URL from stats; wildcard binds read as the node's host; anything odd refused", () => {
    expect(metricsUrl('w@h', tsStats)).to.equal('http://127.0.0.1:9464/metrics');
    expect(metricsUrl('w@box.lan', { taskbus_metrics: { host: '0.0.0.0', port: 1 } })).to.equal('http://box.lan:1/metrics');
    expect(metricsUrl('w@h', { taskbus_metrics: { host: '::1', port: 2 } })).to.equal('http://[::1]:2/metrics');
    expect(metricsUrl('w@h', { taskbus_metrics: { host: 'evil.com/x?', port: 80 } })).to.equal(null);
    expect(metricsUrl('w@h', { taskbus_metrics: { host: 'h', port: 70_000 } })).to.equal(null);
    expect(metricsUrl('w@h', pyStats)).to.equal(null);
    // Link-local addresses (cloud metadata endpoints among them) are no worker's metrics.
    expect(metricsUrl('w@h', { taskbus_metrics: { host: '169.254.169.254', port: 80 } })).to.equal(null);
    expect(metricsUrl('w@h', { taskbus_metrics: { host: 'fe80::1', port: 80 } })).to.equal(null);
    expect(metricsUrl('w@169.254.169.254', { taskbus_metrics: { host: '0.0.0.0', port: 80 } })).to.equal(null);
  });

  it('hostile replies (objects where strings go, odd keys, huge lists) never stop the sample', () => {
    const hostile = { toString: 1, valueOf: 2 };
    const [w] = describeWorkers(
      {
        stats: new Map<string, unknown>([['x@h', { total: JSON.parse('{"__proto__": 5, "a": 1}'), pid: 'nope', sw_ident: hostile }]]),
        registered: new Map<string, unknown>([['x@h', ['a', hostile, 7]]]),
        activeQueues: new Map<string, unknown>([['x@h', [{ name: hostile }]]]),
        active: new Map<string, unknown>([['x@h', [{ id: hostile, name: hostile, type: hostile, time_start: 'x' }, ...Array.from({ length: 5000 }, (_, i) => ({ id: String(i), name: 'a' }))]]]),
      },
      () => null,
      0,
    );
    expect(w!.tasks).to.deep.equal([{ name: 'a', version: null }]);
    expect(w!.queues).to.deep.equal([]);
    expect(w!.active[0]).to.deep.equal({ id: '', name: '', seconds: null });
    expect(w!.active.length).to.be.at.most(MAX_ACTIVE_SHOWN);
    expect(Object.getPrototypeOf(w!.total)).to.equal(Object.prototype);
    expect(({} as Record<string, unknown>)['a']).to.equal(undefined);
  });

  it('a flood of nodes, task names, queues and totals is cut to bounds (each sample, and the history, stays small)', () => {
    const many = (n: number, f: (i: number) => unknown) => Array.from({ length: n }, (_, i) => f(i));
    const nodes = many(MAX_WORKERS + 50, (i) => `n${String(i).padStart(4, '0')}@h`) as string[];
    const workers = describeWorkers(
      {
        stats: new Map(nodes.map((n) => [n, { total: Object.fromEntries(Array.from({ length: MAX_NAMES + 10 }, (_, i) => [`t${i}`, 1] as const)) }])),
        registered: new Map(nodes.map((n) => [n, many(MAX_NAMES + 10, (i) => `t${i}`)])),
        activeQueues: new Map(nodes.map((n) => [n, many(MAX_NAMES + 10, (i) => ({ name: `q${i}` }))])),
        active: new Map(),
      },
      () => null,
      0,
    );
    expect(workers.length).to.equal(MAX_WORKERS);
    expect(workers[0]!.tasks.length).to.equal(MAX_NAMES);
    expect(workers[0]!.queues.length).to.equal(MAX_NAMES);
    expect(Object.keys(workers[0]!.total).length).to.equal(MAX_NAMES);
  });

  it('one view per node from the four replies', () => {
    const [py, ts] = describeWorkers(
      {
        stats: new Map<string, unknown>([['ts@h', tsStats], ['celery@h', pyStats]]),
        registered: new Map<string, unknown>([['ts@h', ['a.b']], ['celery@h', ['pusher.send_to_s3', 'celery.chord']]]),
        activeQueues: new Map<string, unknown>([['ts@h', [{ name: 'q1' }]], ['celery@h', [{ name: 'q2' }, 'junk']]]),
        active: new Map<string, unknown>([['ts@h', [{ id: 'i', name: 'a.b', time_start: 95 }]]]),
      },
      (t) => (t === 'a.b' ? 2 : null),
      100_000,
    );
    expect(ts).to.deep.include({ node: 'ts@h', language: 'TypeScript', software: 'taskbus 0.1.0', queues: ['q1'], metrics: 'http://127.0.0.1:9464/metrics' });
    expect(ts!.tasks).to.deep.equal([{ name: 'a.b', version: 2 }]);
    expect(ts!.active).to.deep.equal([{ id: 'i', name: 'a.b', seconds: 5 }]);
    expect(py).to.deep.include({ node: 'celery@h', language: 'Python', software: 'celery (concurrency 1)', queues: ['q2'], metrics: null, total: { 'pusher.send_to_s3': 4 } });
    expect(py!.tasks.map((t) => t.name)).to.deep.equal(['celery.chord', 'pusher.send_to_s3']);
  });
});

describe('taskbus ui: who may use it', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

  it('off loopback only with a token of 16+ characters', () => {
    expect(uiToken('127.0.0.1', {})).to.equal(null);
    expect(uiToken('::1', {})).to.equal(null);
    expect(() => uiToken('0.0.0.0', {})).to.throw(/TASKBUS_UI_TOKEN/);
    expect(() => uiToken('10.0.0.1', { TASKBUS_UI_TOKEN: 'short' })).to.throw(/at least 16/);
    expect(uiToken('0.0.0.0', { TASKBUS_UI_TOKEN: 'x'.repeat(16) })).to.equal('x'.repeat(16));
  });

  it('on loopback, the Host header must name this server (DNS rebinding)', () => {
    const g = new Guard({ host: '127.0.0.1', port: 8089 }, null);
    expect(g.hostRefusal(req({ host: '127.0.0.1:8089' }))).to.equal(null);
    expect(g.hostRefusal(req({ host: 'localhost:8089' }))).to.equal(null);
    expect(g.hostRefusal(req({ host: 'evil.example:8089' }))?.status).to.equal(421);
    expect(g.hostRefusal(req({ host: '127.0.0.1:80' }))?.status).to.equal(421);
    expect(g.hostRefusal(req({}))?.status).to.equal(421);
    expect(g.hostRefusal(req({ host: '127.0.0.1.evil.com:8089' }))?.status).to.equal(421);
    expect(g.hostRefusal(req({ host: 'localhost.:8089' }))?.status).to.equal(421);
    expect(g.hostRefusal(req({ host: 'LOCALHOST:8089' }))).to.equal(null);
    expect(g.hostRefusal(req({ host: '[::1]:8089' }))).to.equal(null);
    const v6 = new Guard({ host: '::1', port: 8089 }, null);
    expect(v6.hostRefusal(req({ host: '[::1]:8089' }))).to.equal(null);
    expect(v6.hostRefusal(req({ host: '[::1].evil.com:8089' }))?.status).to.equal(421);
  });

  it('only loopback literals and localhost count as loopback: wildcards, mapped and look-alike names need the token', () => {
    for (const host of ['0.0.0.0', '::', '::ffff:127.0.0.1', '127.0.0.1.evil.com', 'localhost.evil.com', '127.1', 'my-laptop']) {
      expect(() => uiToken(host, {}), host).to.throw(/TASKBUS_UI_TOKEN/);
    }
    for (const host of ['127.0.0.1', '127.3.2.1', '::1', 'localhost']) expect(uiToken(host, {}), host).to.equal(null);
  });

  it('a POST needs the CSRF header, JSON, no foreign Origin, and the token when there is one', () => {
    const g = new Guard({ host: '0.0.0.0', port: 8089 }, 'secret-token-0123456789');
    const ok = { host: 'box:8089', 'x-taskbus-csrf': g.csrf, 'content-type': 'application/json', authorization: 'Bearer secret-token-0123456789' };
    expect(g.postRefusal(req(ok))).to.equal(null);
    expect(g.postRefusal(req({ ...ok, 'x-taskbus-csrf': 'nope' }))?.status).to.equal(403);
    expect(g.postRefusal(req({ ...ok, origin: 'http://evil.example' }))?.status).to.equal(403);
    expect(g.postRefusal(req({ ...ok, origin: 'http://box:8089' }))).to.equal(null);
    expect(g.postRefusal(req({ ...ok, 'content-type': 'text/plain' }))?.status).to.equal(400);
    expect(g.postRefusal(req({ ...ok, authorization: 'Bearer wrong' }))?.status).to.equal(401);
    const session = g.login('secret-token-0123456789');
    expect(g.login('wrong')).to.equal(null);
    const { authorization: _, ...noBearer } = ok;
    expect(g.postRefusal(req({ ...noBearer, cookie: `a=b; taskbus_ui_session=${session}` }))).to.equal(null);
    expect(g.postRefusal(req({ ...noBearer, cookie: 'taskbus_ui_session=forged' }))?.status).to.equal(401);
  });

  it('a session ends after SESSION_TTL_MS, and a login beyond 64 sessions ends the oldest', () => {
    let now = 0;
    const g = new Guard({ host: '0.0.0.0', port: 8089 }, 'secret-token-0123456789', () => now);
    const withSession = (s: string | null) => req({ cookie: `taskbus_ui_session=${s}` });
    const first = g.login('secret-token-0123456789');
    now = SESSION_TTL_MS - 1;
    expect(g.authenticated(withSession(first))).to.equal(true);
    now = SESSION_TTL_MS;
    expect(g.authenticated(withSession(first))).to.equal(false);
    const sessions = Array.from({ length: 65 }, () => g.login('secret-token-0123456789'));
    expect(g.authenticated(withSession(sessions[0]!))).to.equal(false);
    expect(g.authenticated(withSession(sessions[1]!))).to.equal(true);
    expect(g.authenticated(withSession(sessions[64]!))).to.equal(true);
  });

  it('compares secrets whatever their lengths', () => {
    expect(sameSecret('a', 'a')).to.equal(true);
    expect(sameSecret('a', 'ab')).to.equal(false);
  });
});
