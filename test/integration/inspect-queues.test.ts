import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { AMQP_URL, deleteQueues, queueDepth, rawBroker, uniqueQueue, VHOST, waitFor } from '../support/broker.js';
import { TASKBUS_BIN } from '../support/cli.js';
import { runProcess } from '../support/process.js';

const CONTRACTS = fileURLToPath(new URL('../../contracts', import.meta.url));
/** Ports 19300-19399 are this suite's; one per stub (TB_INSPECT_STUB_PORT moves it, for a worktree's own range). */
const STUB_PORT = Number(process.env['TB_INSPECT_STUB_PORT'] ?? 19321);

interface Report {
  readonly source: 'management' | 'amqp';
  readonly queues: readonly { queue: string; state: string; ready: number | null; unacked: number | null; consumers: number | null; dlq: number | null }[];
}

function inspect(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  // In a directory without contracts/: only the queues a test names (or --contracts) are shown.
  return runProcess(process.execPath, [TASKBUS_BIN, 'inspect', 'queues', ...args], { cwd: tmpdir(), env: { AMQP_URL, ...env } });
}

async function inspectJson(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Report> {
  const run = await inspect([...args, '--json'], env);
  expect(run.code, run.stderr).to.equal(0);
  expect(run.stderr).to.equal('');
  return JSON.parse(run.stdout) as Report;
}

describe('taskbus inspect queues on the real broker (management plugin disabled here: passive declares)', function () {
  this.timeout(60_000);
  const busy = uniqueQueue('inspect');
  const absent = uniqueQueue('inspect-absent');
  let raw: Awaited<ReturnType<typeof rawBroker>>;

  before(async () => {
    raw = await rawBroker();
    await raw.channel.assertQueue(busy, { durable: true });
    await raw.channel.assertQueue(`${busy}.dlq`, { durable: true });
    for (let i = 0; i < 3; i++) raw.channel.sendToQueue(busy, Buffer.from(`m${i}`));
    for (let i = 0; i < 2; i++) raw.channel.sendToQueue(`${busy}.dlq`, Buffer.from(`d${i}`));
    // One consumer holding one message unacked: 2 ready, 1 consumer.
    const holder = await raw.connection.createChannel();
    await holder.prefetch(1);
    await holder.consume(busy, () => undefined, { noAck: false });
    await waitFor('one message held', async () => ((await queueDepth(raw, busy)) === 2 ? true : undefined));
  });
  after(async () => {
    await raw.close();
    await deleteQueues(busy, absent);
  });

  it('shows ready, consumers and the DLQ count of each queue, unacked unknown; a missing queue is shown missing and not created', async () => {
    const report = await inspectJson(['--queue', busy, '--queue', absent, '--contracts', CONTRACTS]);
    expect(report.source).to.equal('amqp');
    const byName = new Map(report.queues.map((q) => [q.queue, q]));
    expect(byName.get(busy)).to.deep.equal({ queue: busy, state: 'ok', ready: 2, unacked: null, consumers: 1, dlq: 2 });
    expect(byName.get(absent)).to.deep.equal({ queue: absent, state: 'missing', ready: null, unacked: null, consumers: null, dlq: null });
    expect(byName.has('pusher'), 'the queue of contracts/pusher.ts').to.equal(true);
    expect(await queueDepth(raw, absent), 'looking must not create it').to.equal(undefined);
    expect(await queueDepth(raw, `${absent}.dlq`)).to.equal(undefined);
  });

  it('prints a header row and one line per queue, without any password', async () => {
    const run = await inspect(['--queue', busy, '--queue', absent, '--no-management']);
    expect(run.code, run.stderr).to.equal(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^QUEUE +STATE +READY +UNACKED +CONSUMERS +DLQ$/);
    expect(lines.slice(1).map((l) => l.split(/ +/))).to.deep.include.members([
      [busy, 'ok', '2', '-', '1', '2'],
      [absent, 'missing', '-', '-', '-', '-'],
    ]);
    expect(lines).to.have.length(3);
    const password = decodeURIComponent(new URL(AMQP_URL).password);
    if (password.length >= 4) expect(run.stdout + run.stderr).not.to.include(password);
  });

  it('with nothing to look at (no contracts, no --queue, no management API), says so: exit 2', async () => {
    const run = await inspect(['--contracts', '/nonexistent-contracts']);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(/contracts directory/);
    const none = await inspect([]);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.match(/no queues to inspect/);
  });

  describe('with a management API (a local stub serving what RabbitMQ 3.10 serves at /api/queues/<vhost>)', () => {
    let server: Server;
    let answer: (req: IncomingMessage, res: ServerResponse) => void;
    const requests: { url: string; authorization: string | undefined }[] = [];

    before(async () => {
      server = createServer((req, res) => {
        requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
        answer(req, res);
      });
      server.listen(STUB_PORT, '127.0.0.1');
      await once(server, 'listening');
    });
    after(() => {
      server.closeAllConnections();
      server.close();
    });
    beforeEach(() => (requests.length = 0));

    /** The fields RabbitMQ's /api/queues lists, as it lists them (a queue it has no stats for yet lacks the counts). */
    const listing = [
      {
        name: busy, vhost: VHOST, durable: true, type: 'classic', state: 'running', messages: 5, messages_ready: 2, messages_unacknowledged: 3, consumers: 1,
        // Rates `taskbus ui` shows; `inspect queues --json` leaves them out.
        message_stats: { publish: 40, publish_details: { rate: 2.5 }, deliver_get: 35, deliver_get_details: { rate: 1.2 }, ack: 33, ack_details: { rate: 1.1 } },
      },
      { name: `${busy}.dlq`, vhost: VHOST, durable: true, type: 'classic', state: 'running', messages: 2, messages_ready: 2, messages_unacknowledged: 0, consumers: 0 },
      { name: 'celery', vhost: VHOST, durable: true, type: 'quorum', state: 'running', messages: 0, messages_ready: 0, messages_unacknowledged: 0, consumers: 2 },
      { name: 'fresh', vhost: VHOST, durable: true, type: 'classic' },
    ];
    const serve = (status: number, body: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };

    it('lists every queue of the vhost with unacked, DLQs folded in; logs in with the AMQP credentials', async () => {
      answer = serve(200, listing);
      const report = await inspectJson(['--queue', absent, '--management', `http://127.0.0.1:${STUB_PORT}`]);
      expect(report.source).to.equal('management');
      expect(report.queues).to.deep.equal([
        { queue: busy, state: 'ok', ready: 2, unacked: 3, consumers: 1, dlq: 2 },
        { queue: absent, state: 'missing', ready: null, unacked: null, consumers: null, dlq: null },
        { queue: 'celery', state: 'ok', ready: 0, unacked: 0, consumers: 2, dlq: null },
        { queue: 'fresh', state: 'ok', ready: null, unacked: null, consumers: null, dlq: null },
      ].sort((a, b) => (a.queue < b.queue ? -1 : 1)));
      expect(requests).to.have.length(1);
      expect(new URL(requests[0]!.url, 'http://x').pathname).to.equal(`/api/queues/${encodeURIComponent(VHOST)}`);
      expect(new URL(requests[0]!.url, 'http://x').searchParams.get('columns'), 'no rates asked for').to.equal('name,messages_ready,messages_unacknowledged,consumers');
      const url = new URL(AMQP_URL);
      expect(requests[0]!.authorization).to.equal(`Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`);
    });

    it('TASKBUS_MANAGEMENT_URL with its own credentials; the password is never printed', async () => {
      answer = serve(200, listing);
      const run = await inspect(['--queue', busy], { TASKBUS_MANAGEMENT_URL: `http://ops:s3cret-mgmt@127.0.0.1:${STUB_PORT}/` });
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout.split('\n')[0]).to.match(/^QUEUE/);
      expect(requests[0]!.authorization).to.equal(`Basic ${Buffer.from('ops:s3cret-mgmt').toString('base64')}`);
      expect(run.stdout + run.stderr).not.to.include('s3cret-mgmt');
    });

    for (const [name, behave] of [
      ['refuses the login (401)', serve(401, { error: 'not_authorised', reason: 'Login failed' })],
      ['answers something else than a queue list', serve(200, { hello: 'world' })],
      ['never answers (3 s timeout)', () => undefined],
    ] as const) {
      it(`falls back to passive declares, silently, when the API ${name}`, async () => {
        answer = behave;
        const report = await inspectJson(['--queue', busy], { TASKBUS_MANAGEMENT_URL: `http://ops:s3cret-mgmt@127.0.0.1:${STUB_PORT}` });
        expect(report).to.deep.equal({ source: 'amqp', queues: [{ queue: busy, state: 'ok', ready: 2, unacked: null, consumers: 1, dlq: 2 }] });
        expect(requests).to.have.length(1);
      });
    }

    it('--no-management does not ask it', async () => {
      answer = serve(200, listing);
      expect((await inspectJson(['--queue', busy, '--no-management'], { TASKBUS_MANAGEMENT_URL: `http://127.0.0.1:${STUB_PORT}` })).source).to.equal('amqp');
      expect(requests).to.have.length(0);
    });
  });
});
