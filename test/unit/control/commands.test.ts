import { expect } from 'chai';
import { Activity } from '../../../runtime/src/control/activity.js';
import { revokedDump, runCommand, type NodeState } from '../../../runtime/src/control/commands.js';
import { hostname } from 'node:os';
import { decodeRequest, encodeJson, encodeRequest, isForNode, LamportClock, nodeName, PyFloat, type ControlRequest } from '../../../runtime/src/control/protocol.js';
import { monotonicSeconds, RevokedSet } from '../../../runtime/src/control/revoked.js';
import type { TaskContext } from '../../../runtime/src/worker/types.js';

function state(): NodeState & { revoked: RevokedSet; activity: Activity } {
  return {
    node: 'taskbus-1@vm',
    revoked: new RevokedSet(),
    activity: new Activity(),
    clock: new LamportClock(),
    startedAt: Date.now() - 5000,
    prefetch: 8,
    softwareVersion: '0.1.0',
    tasks: () => ['pusher.send_to_s3_v2', 'pusher.send_to_s3'],
    queues: () => [{ name: 'pusher', arguments: null }],
    broker: () => ({ hostname: '127.0.0.1', port: 5672, userid: 'guest', virtualHost: 'control', ssl: false, heartbeat: 15 }),
  };
}

const request = (method: string, args: Record<string, unknown> = {}, extra: Partial<ControlRequest> = {}): ControlRequest => ({
  method,
  arguments: args,
  destination: null,
  pattern: null,
  matcher: null,
  ...extra,
});

describe('remote control protocol (kombu pidbox)', () => {
  it('reads a request exactly as `celery inspect ping` (Celery 5.2) publishes it', () => {
    const body =
      '{"method": "ping", "arguments": {}, "destination": null, "pattern": null, "matcher": null, "ticket": "ca5e9ae5-b84f-42f5-b45c-8b8dda39413a", "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "07728987-4589-3654-990b-f67b9dbce08c"}}';
    expect(decodeRequest(Buffer.from(body))).to.deep.equal({
      method: 'ping',
      arguments: {},
      destination: null,
      pattern: null,
      matcher: null,
      ticket: 'ca5e9ae5-b84f-42f5-b45c-8b8dda39413a',
      replyTo: { exchange: 'reply.celery.pidbox', routingKey: '07728987-4589-3654-990b-f67b9dbce08c' },
    });
  });

  it('reads a cast (revoke without reply) and refuses what is not a request', () => {
    const revoke = '{"method": "revoke", "arguments": {"task_id": "abc-123", "terminate": false, "signal": "SIGTERM"}, "destination": null, "pattern": null, "matcher": null}';
    expect(decodeRequest(Buffer.from(revoke))).to.deep.include({ method: 'revoke', arguments: { task_id: 'abc-123', terminate: false, signal: 'SIGTERM' } });
    expect(decodeRequest(Buffer.from(revoke))).to.not.have.property('replyTo');
    for (const bad of ['not json', '[]', '{"arguments": {}}', '{"method": "x", "__proto__": {}}']) expect(decodeRequest(Buffer.from(bad)), bad).to.equal(null);
  });

  it('round-trips its own requests', () => {
    const r = request('hello', { from_node: 'a@b', revoked: {} }, { ticket: 't', replyTo: { exchange: 'reply.celery.pidbox', routingKey: 'oid' } });
    expect(decodeRequest(encodeRequest(r))).to.deep.equal(r);
  });

  // [destination, pattern, matcher, for taskbus-1@vm?]
  const filters: [string[] | null, string | null, string | null, boolean][] = [
    [null, null, null, true],
    [['taskbus-1@vm'], null, null, true],
    [['celery@vm'], null, null, false],
    [[], null, null, true],
    [null, 'taskbus-*', 'glob', true],
    [null, 'celery@*', 'glob', false],
    [null, '^taskbus-\\d+@vm$', 'pcre', true],
    [null, '(', 'pcre', false],
    // As kombu's matchers: fnmatch's sets, re.match anchored at the start only, an unknown matcher for no one.
    [null, 'taskbus-[0-9]@vm', 'glob', true],
    [null, 'taskbus-[!0-9]@vm', 'glob', false],
    [null, 'taskbus-?@[a-z]*', 'glob', true],
    [null, 'taskbus', 'pcre', true],
    [null, '@vm', 'pcre', false],
    [null, 'taskbus-*', 'fnmatch', false],
  ];
  for (const [destination, pattern, matcher, expected] of filters) {
    it(`destination ${JSON.stringify(destination)} pattern ${JSON.stringify(pattern)} (${matcher}) -> ${expected ? 'handled' : 'ignored'}`, () => {
      expect(isForNode(request('ping', {}, { destination, pattern, matcher }), 'taskbus-1@vm')).to.equal(expected);
    });
  }

  it('a hostile pattern is decided at once: no backtracking RegExp for a glob, a watchdog on a pcre one', () => {
    // [pattern, matcher, for taskbus-12345@vm?]; 14 stars took a backtracking RegExp 3 s, 40 stars hours.
    const hostile: [string, string, boolean][] = [
      ['*'.repeat(14) + 'X', 'glob', false],
      ['*'.repeat(40) + 'X', 'glob', false],
      ['*?'.repeat(5000) + 'X', 'glob', false],
      ['*'.repeat(100_000), 'glob', true],
      ['(.*)*(.*)*(.*)*(.*)*(.*)*(.*)*X', 'pcre', false],
    ];
    for (const [pattern, matcher, expected] of hostile) {
      const started = performance.now();
      expect(isForNode(request('ping', {}, { pattern, matcher }), 'taskbus-12345@vm'), pattern.slice(0, 20)).to.equal(expected);
      expect(performance.now() - started, pattern.slice(0, 20)).to.be.below(200);
    }
  });

  it('writes floats Python reads as floats (LimitedSet.update refuses an int timestamp)', () => {
    expect(encodeJson({ a: [new PyFloat(2510), 'a'], b: new PyFloat(1.5), n: 3, s: 'x"y', u: undefined, l: [undefined] })).to.equal('{"a":[2510.0,"a"],"b":1.5,"n":3,"s":"x\\"y","l":[null]}');
  });

  it('node names: %h is the host; the default is unique per process and per worker in it; unusable names are refused', () => {
    expect(nodeName('pusher@%h')).to.equal(`pusher@${hostname()}`);
    const [a, b] = [nodeName(), nodeName()];
    expect(a).to.match(new RegExp(`^taskbus-${process.pid}(-\\d+)?@`));
    expect(b).to.not.equal(a);
    for (const bad of ['', ' ', 'a\nb', 'x'.repeat(201)]) expect(() => nodeName(bad), JSON.stringify(bad)).to.throw(/not usable as a Celery node name/);
  });

  it('keeps a Lamport clock as kombu does', () => {
    const c = new LamportClock();
    c.adjust(10);
    expect(c.value).to.equal(11);
    c.adjust('junk');
    expect(c.forward()).to.equal(12);
  });

  it('ignores a clock no AMQP long can carry (any sender may write 1e300), so its own headers stay sendable', () => {
    const c = new LamportClock();
    c.adjust(10);
    for (const bad of [1e300, -1e300, 2 ** 64, Infinity, NaN]) c.adjust(bad);
    expect(c.forward()).to.equal(12);
  });
});

describe('remote control commands, in the shapes Celery workers answer with', () => {
  it('ping -> {ok: pong}', () => expect(runCommand(request('ping'), state()).reply).to.deep.equal({ ok: 'pong' }));

  it('registered -> sorted Celery task names', () => {
    expect(runCommand(request('registered', { taskinfoitems: [] }), state()).reply).to.deep.equal(['pusher.send_to_s3', 'pusher.send_to_s3_v2']);
  });

  it('active_queues -> kombu Queue.as_dict', () => {
    const [q] = runCommand(request('active_queues'), state()).reply as Record<string, unknown>[];
    expect(q).to.deep.include({ name: 'pusher', routing_key: 'pusher', durable: true, exclusive: false, auto_delete: false, queue_arguments: null });
    expect(q!['exchange']).to.deep.include({ name: 'pusher', type: 'direct' });
  });

  it('active -> Request.info() of each running handler', () => {
    const s = state();
    const context = { id: 'id-1', task: 'pusher.send_to_s3', queue: 'pusher', retries: 0, redelivered: false, message: { args: ['k', 'c'], kwargs: {} } } as unknown as TaskContext;
    s.activity.begin(context);
    const [t] = runCommand(request('active'), s).reply as Record<string, unknown>[];
    expect(t).to.deep.include({ id: 'id-1', name: 'pusher.send_to_s3', type: 'pusher.send_to_s3', args: ['k', 'c'], kwargs: {}, hostname: 'taskbus-1@vm', acknowledged: false, worker_pid: process.pid });
    expect(t!['delivery_info']).to.deep.equal({ exchange: '', routing_key: 'pusher', priority: null, redelivered: false });
    s.activity.end(context);
    expect(runCommand(request('active'), s).reply).to.deep.equal([]);
    expect(Object.fromEntries(s.activity.total)).to.deep.equal({ 'pusher.send_to_s3': 1 });
  });

  it('stats -> pid, total per task, pool, broker (no password), uptime', () => {
    const reply = runCommand(request('stats'), state()).reply as Record<string, unknown>;
    expect(reply).to.include({ pid: process.pid, prefetch_count: 8, sw_ident: 'taskbus', uptime: 5 });
    expect(reply['broker']).to.deep.include({ hostname: '127.0.0.1', userid: 'guest', virtual_host: 'control', port: 5672, transport: 'amqp' });
    expect(JSON.stringify(reply)).to.not.match(/password/);
    expect(reply).to.not.have.property('taskbus_metrics');
  });

  it('stats -> taskbus_metrics: where the worker serves /metrics, when it does', () => {
    const reply = runCommand(request('stats'), { ...state(), metrics: () => ({ host: '127.0.0.1', port: 9464 }) }).reply as Record<string, unknown>;
    expect(reply['taskbus_metrics']).to.deep.equal({ host: '127.0.0.1', port: 9464, path: '/metrics' });
  });

  it('revoke -> flags one id or a list, as Celery replies', () => {
    const s = state();
    expect(runCommand(request('revoke', { task_id: 'a', terminate: false, signal: 'SIGTERM' }), s)).to.deep.equal({ reply: { ok: 'tasks a flagged as revoked' }, revoked: ['a'] });
    expect(runCommand(request('revoke', { task_id: ['b', 'c'] }), s).reply).to.deep.equal({ ok: 'tasks b, c flagged as revoked' });
    expect(runCommand(request('revoked'), s).reply).to.deep.equal(['a', 'b', 'c']);
    expect(s.revoked.has('b')).to.equal(true);
  });

  it('revoke and hello keep no id longer than a task id can be (255 bytes): megabyte ids cannot fill memory', () => {
    const s = state();
    const huge = 'x'.repeat(1_000_000);
    // Lengths compared: a failure must not print a megabyte.
    expect(runCommand(request('revoke', { task_id: [huge, 'é'.repeat(128), 'ok'] }), s).revoked?.map((id) => id.length)).to.deep.equal([2]);
    const now = monotonicSeconds();
    expect(runCommand(request('hello', { from_node: 'celery@vm', revoked: { [huge]: [now, huge], ['y'.repeat(255)]: now } }), s).learnt).to.equal(1);
    expect(s.revoked.ids().map((id) => id.length)).to.deep.equal([2, 255]);
  });

  it('hello from another node -> merges its revokes, answers with ours as {id: [float, id]} and a clock', () => {
    const s = state();
    s.revoked.add('mine');
    const out = runCommand(request('hello', { from_node: 'celery@vm', revoked: { theirs: [s.revoked.entries()[0]![1] - 1, 'theirs'] } }), s);
    expect(out.learnt).to.equal(1);
    const reply = out.reply as { revoked: Record<string, unknown>; clock: number };
    expect(Object.keys(reply.revoked)).to.deep.equal(['theirs', 'mine']);
    expect(encodeJson(reply)).to.match(/^\{"revoked":\{"theirs":\[\d+\.\d+,"theirs"\],"mine":\[\d+\.\d+,"mine"\]\},"clock":\d+\}$/);
    expect(s.revoked.has('theirs')).to.equal(true);
  });

  it('hello from itself -> null, as Celery', () => {
    expect(runCommand(request('hello', { from_node: 'taskbus-1@vm', revoked: {} }), state()).reply).to.equal(null);
  });

  it('an unknown command -> {error}', () => {
    expect(runCommand(request('pool_grow', { n: 1 }), state()).reply).to.have.property('error').that.matches(/pool_grow/);
  });

  it('revokedDump is what mingle sends', () => {
    const s = state();
    s.revoked.add('x');
    expect(encodeJson(revokedDump(s.revoked))).to.match(/^\{"x":\[\d+\.\d+,"x"\]\}$/);
  });
});
