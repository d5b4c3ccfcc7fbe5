import { expect } from 'chai';
import { describeReply, formatReplies, parseTimeout } from '@taskbus/cli/inspect';

describe('taskbus inspect: one line per worker', () => {
  // [command, reply, line]
  const cases: [string, unknown, string][] = [
    ['ping', { ok: 'pong' }, 'pong'],
    ['registered', ['a.x', 'b.y'], '2 tasks: a.x, b.y'],
    ['registered', [], '0 tasks'],
    ['active_queues', [{ name: 'pusher' }, { name: 'other' }], '2 queues: pusher, other'],
    ['active', [], '0 tasks running'],
    ['revoked', ['id-1'], '1 revoked task: id-1'],
    ['clock', { clock: 12 }, 'clock 12'],
    ['revoke', { ok: 'tasks a flagged as revoked' }, 'tasks a flagged as revoked'],
    ['stats', { error: 'boom' }, 'error: boom'],
    [
      'stats',
      { total: { 'pusher.send_to_s3': 3 }, pid: 7, uptime: 9, pool: { 'max-concurrency': 1 }, broker: { transport: 'amqp', userid: 'guest', hostname: 'h', port: 5672, virtual_host: 'v' } },
      'celery, pid 7, up 9 s, concurrency 1, 3 tasks run (pusher.send_to_s3 3), broker amqp://guest@h:5672/v',
    ],
    ['registered', { odd: true }, '{"odd":true}'],
  ];
  for (const [command, reply, line] of cases) {
    it(`${command} ${JSON.stringify(reply).slice(0, 40)}`, () => expect(describeReply(command, reply)).to.equal(line));
  }

  it('text: sorted as given, escaped, with a count; --json: one object per worker', () => {
    const replies = [
      { node: 'celery@vm', reply: { ok: 'pong' } },
      { node: 'taskbus-1@vm', reply: { ok: 'po\u001b[2Jng' } },
    ];
    expect(formatReplies('ping', replies, false)).to.deep.equal(['celery@vm: pong', 'taskbus-1@vm: po\\u001b[2Jng', '2 nodes online.']);
    expect(formatReplies('ping', replies, true).map((l) => JSON.parse(l) as unknown)).to.deep.equal(replies);
  });

  it('--json: C1 controls (U+009B is CSI to many terminals) and DEL are escaped as well; the JSON reads the same', () => {
    const replies = [{ node: 'evil\u009b2J@vm', reply: ['task\u009b31m.x', 'del\u007f', 'ls\u2028'] }];
    const [line] = formatReplies('registered', replies, true);
    expect(line).to.equal('{"node":"evil\\u009b2J@vm","reply":["task\\u009b31m.x","del\\u007f","ls\\u2028"]}');
    expect(JSON.parse(line!)).to.deep.equal(replies[0]);
  });

  it('revoke: a count of the workers that acknowledged it', () => {
    expect(formatReplies('revoke', [{ node: 'celery@vm', reply: { ok: 'tasks a flagged as revoked' } }], false)).to.deep.equal(['celery@vm: tasks a flagged as revoked', '1 worker acknowledged the revoke.']);
  });

  it('--timeout must be a positive number of ms', () => {
    expect(parseTimeout('1500')).to.equal(1500);
    for (const bad of ['0', '-1', 'x', '1e9']) expect(() => parseTimeout(bad), bad).to.throw(/--timeout/);
  });
});
