import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, silentLogger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { AMQP_URL, deleteQueues, queueDepth, rawBroker, uniqueQueue, VHOST, waitFor } from '../support/broker.js';
import { Forwarder } from '../support/forwarder.js';
import { taskbus } from '../support/cli.js';
import { csrfOf, http, openPage, screenshotPath, startUi, waitForText, type UiProcess } from '../support/ui.js';

// Ports 18090-18099 are this suite's to use (18092-18093: test/interop/ui.test.ts); nothing listens on downBroker.
// TB_UI_PORT_BASE moves them all (a worktree with its own range of ports).
const BASE = Number(process.env['TB_UI_PORT_BASE'] ?? 18_090);
const PORTS = { ui: BASE, token: BASE + 1, management: BASE + 4, managedUi: BASE + 5, downUi: BASE + 6, flakyUi: BASE + 7, downBroker: BASE + 8, forwarder: BASE + 9 } as const;
const HOSTILE = '<img src=x onerror="window.pwned=1">';

/** `taskbus ui` in headless Chromium against a real worker, its metrics and its dead letters. */
describe('taskbus ui in a browser: a real workload read off the page, a dead letter replayed by clicking', function () {
  this.timeout(120_000);
  // A realistic workload for the README's screenshots: both versions of the pusher's task, a few failing into the DLQ.
  const queue = uniqueQueue('pusher');
  const idle = uniqueQueue('reports');
  const old = defineTask<[key: string], Record<string, never>, string>({ name: 'pusher.send_to_s3', version: 1, queue, args: { key: Type.String() }, result: Type.String() });
  const job = defineTask<[key: string], Record<string, never>, string>({ name: 'pusher.send_to_s3_v2', version: 2, queue, args: { key: Type.String() }, result: Type.String() });
  const failing = new Set(['fail-1', 'fail-2']);
  const ran: string[] = [];
  const cwd = mkdtempSync(join(tmpdir(), 'taskbus-ui-')); // no contracts/ here: only the workers' queues and --queue
  let raw: Awaited<ReturnType<typeof rawBroker>>;
  let worker: Worker;
  let client: TaskClient;
  let ui: UiProcess;
  let browser: Browser;
  let page: Page;
  /** Script errors and console errors (a Content-Security-Policy refusal among them). */
  const pageErrors: string[] = [];

  const text = (selector: string) => page.locator(selector).first().textContent({ timeout: 20_000 });
  const shows = (selector: string, want: string) => waitForText(page, selector, want);

  before(async () => {
    raw = await rawBroker();
    worker = createWorker({ logger: silentLogger, name: `${queue}@%h`, metrics: { port: 0 } });
    const upload = () => new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 60)); // an upload's time
    worker.register(old, async ([key]) => (await upload(), `s3://bucket/${key}`));
    worker.register(job, async ([key]) => {
      await upload();
      if (failing.has(key)) throw new Error(`PutObject reports/${key}.json: AccessDenied (bucket policy)`);
      ran.push(key);
      return `s3://bucket/${key}`;
    });
    await worker.start();
    client = await connectClient({ logger: silentLogger });
    for (const key of ['old-1', 'old-2', 'old-3']) await client.send(old, [key], {});
    for (const key of ['ok-1', 'ok-2', 'ok-3', 'ok-4', 'fail-1', 'fail-2']) await client.send(job, [key], {});
    await waitFor('2 dead letters', async () => ((await queueDepth(raw, `${queue}.dlq`)) === 2 && ran.length === 4 ? true : undefined));
    // A queue nobody consumes, with 5 tasks waiting.
    await raw.channel.assertQueue(idle, { durable: true });
    for (let i = 0; i < 5; i++) raw.channel.sendToQueue(idle, Buffer.from('[[], {}, {}]'), { contentType: 'application/json', headers: { task: 'reports.build', id: `idle-${i}` } });
    await raw.channel.checkQueue(idle);
    ui = await startUi(cwd, ['--port', String(PORTS.ui), '--queue', idle, '--interval', '1']);
    ({ browser, page } = await openPage(ui.url));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  after(async () => {
    await browser?.close();
    await ui?.stop();
    await client?.close();
    await worker?.stop();
    await deleteQueues(queue, idle);
    await raw?.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('shows the queues, the worker, the tasks per version and the dead letters as produced', async () => {
    expect(ui.output()).to.include(`http://127.0.0.1:${PORTS.ui}/`).and.not.include('guest:guest');
    await shows(`tr[data-queue="${idle}"] td[data-col="ready"]`, '5');
    await shows(`tr[data-queue="${queue}"] td[data-col="consumers"]`, '1');
    await shows(`tr[data-task="pusher.send_to_s3_v2"][data-version="2"] td[data-col="succeeded"]`, '4');
    expect(await text(`tr[data-task="pusher.send_to_s3_v2"][data-version="2"] td[data-col="failed"]`)).to.equal('2');
    expect(await text(`tr[data-task="pusher.send_to_s3_v2"][data-version="2"] td[data-col="dead-lettered"]`)).to.equal('2');
    expect(await text(`tr[data-task="pusher.send_to_s3_v2"][data-version="2"] td[data-col="workers"]`)).to.equal(worker.name);
    const row = `tr[data-node="${worker.name}"]`;
    expect(await text(`${row} td[data-col="language"]`)).to.equal('TypeScript');
    expect(await text(`${row} td[data-col="queues"]`)).to.equal(queue);
    expect(await text(`${row} td[data-col="tasks"]`)).to.equal('pusher.send_to_s3 v1, pusher.send_to_s3_v2 v2');
    await shows(`${row} td[data-col="total"]`, '9');
    await shows('tr[data-task="pusher.send_to_s3"][data-version="1"] td[data-col="succeeded"]', '3');
    await shows(`tr[data-dlq-queue="${queue}"] td[data-col="count"]`, '2');
    // More work while the page watches: its rates and charts move.
    for (let i = 5; i <= 10; i++) {
      await client.send(job, [`ok-${i}`], {});
      if (i % 2 === 0) await client.send(old, [`old-${i}`], {});
      raw.channel.sendToQueue(idle, Buffer.from('[[], {}, {}]'), { contentType: 'application/json', headers: { task: 'reports.build', id: `idle-${i}` } }); // piling up
      await page.waitForTimeout(400);
    }
    await shows(`tr[data-task="pusher.send_to_s3_v2"][data-version="2"] td[data-col="succeeded"]`, '10');
    // Without the management API: no publish rate, but the worker's tasks done per second on its queue.
    expect(await text(`tr[data-queue="${queue}"] td[data-col="publish"]`)).to.equal('-');
    expect(Number(await text(`tr[data-queue="${queue}"] td[data-col="done"]`))).to.be.greaterThan(0);
    await page.waitForTimeout(2500); // the charts get a few more points
    await page.screenshot({ path: screenshotPath('ui-overview.png') });
    expect(pageErrors).to.deep.equal([]);
  });

  it('updates live without a reload: new tasks in a queue appear', async () => {
    await page.evaluate('window.marker = 42');
    for (let i = 5; i < 8; i++) raw.channel.sendToQueue(idle, Buffer.from('[[], {}, {}]'), { contentType: 'application/json', headers: { task: 'reports.build', id: `idle-live-${i}` } });
    await shows(`tr[data-queue="${idle}"] td[data-col="ready"]`, '14');
    expect(await page.evaluate('window.marker'), 'the same page, not reloaded').to.equal(42);
  });

  it('browses the dead letters with reason and error (as text), and shows one', async () => {
    await page.click(`tr[data-dlq-queue="${queue}"] button[data-action="browse"]`);
    await page.waitForSelector('#letters tbody tr[data-id]');
    expect(await page.locator('#letters tbody tr').count()).to.equal(2);
    const first = page.locator('#letters tbody tr').first();
    expect(await first.locator('td[data-col="reason"]').textContent()).to.equal('failed');
    expect(await first.locator('td[data-col="task"]').textContent()).to.equal('pusher.send_to_s3_v2');
    expect(await first.locator('td[data-col="error"]').textContent()).to.include('AccessDenied');
    await first.locator('button[data-action="show"]').click();
    await page.waitForSelector('#dlq-detail:not([hidden])');
    const detail = JSON.parse((await text('#dlq-detail'))!) as { headers: Record<string, unknown>; body: string };
    expect(detail.headers['task']).to.equal('pusher.send_to_s3_v2');
    expect(detail.body).to.match(/fail-\d/);
    await page.locator('#dlq-browser').scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshotPath('ui-dead-letters.png') });
  });

  it('replays one dead letter after a confirmation: the task runs and the count drops', async () => {
    failing.delete('fail-1'); // fixed
    const row = page.locator('#letters tbody tr', { hasText: 'fail-1' });
    const id = (await row.getAttribute('data-id'))!;
    await page.click(`#letters tr[data-id="${id}"] button[data-action="replay"]`);
    await page.waitForSelector('#confirm:not([hidden])');
    expect(await text('#confirm-text')).to.include(id);
    await page.screenshot({ path: screenshotPath('ui-confirm.png') });
    expect(ran, 'nothing happens before the confirmation').to.not.include('fail-1');
    await page.click('#confirm-yes');
    await waitFor('the replayed task to run', () => (ran.includes('fail-1') ? true : undefined));
    await shows(`tr[data-dlq-queue="${queue}"] td[data-col="count"]`, '1');
    await shows(`tr[data-task="pusher.send_to_s3_v2"][data-version="2"] td[data-col="succeeded"]`, '11');
    expect(await page.locator('#letters tbody tr').count()).to.equal(1);
  });

  it('hostile task names, worker names, error text and queue names are shown as text: no element, no script', async () => {
    const hq = uniqueQueue('ui-hostile');
    const evil = defineTask<[], Record<string, never>, string>({ name: `ui.${HOSTILE}`, queue: hq, args: {}, result: Type.String() });
    const boom = defineTask<[], Record<string, never>, string>({ name: 'ui.boom', version: 3, queue: hq, args: {}, result: Type.String() });
    const hostile = createWorker({ logger: silentLogger, name: `${HOSTILE}@%h`, queues: [hq], metrics: { port: 0 } });
    hostile.register(evil, () => 'ok');
    hostile.register(boom, () => {
      throw new Error(`failed: ${HOSTILE}`);
    });
    await hostile.start();
    try {
      await client.send(evil, [], {});
      await client.send(boom, [], {});
      await waitFor('the hostile dead letter', async () => ((await queueDepth(raw, `${hq}.dlq`)) === 1 ? true : undefined));
      const row = page.locator('#workers tbody tr', { hasText: hq });
      await waitFor('the hostile worker on the page', async () => ((await row.count()) === 1 ? true : undefined), 20_000);
      expect(await row.locator('td[data-col="node"]').textContent()).to.equal(hostile.name);
      expect(await row.locator('td[data-col="tasks"]').textContent()).to.include(`ui.${HOSTILE}`);
      await waitFor('the hostile task in the tasks and the chart', async () => ((await page.locator('#tasks tbody tr', { hasText: `ui.${HOSTILE}` }).count()) === 1 ? true : undefined), 20_000);
      await page.click(`tr[data-dlq-queue="${hq}"] button[data-action="browse"]`);
      await waitForText(page, '#letters tbody tr td[data-col="task"]', 'ui.boom');
      expect(await page.locator('#letters tbody tr td[data-col="error"]').first().textContent()).to.include(`failed: ${HOSTILE}`);
      await page.locator('#letters tbody tr button[data-action="show"]').first().click();
      await page.waitForSelector('#dlq-detail:not([hidden])');
      expect(await page.locator('img').count(), 'no element made of any of it, the chart legends included').to.equal(0);
      expect(await page.evaluate('window.pwned'), 'no script of the hostile text ran').to.equal(undefined);
      await page.click('#dlq-browser-close');
    } finally {
      await hostile.stop();
      await deleteQueues(hq);
    }
  });

  it('refuses state changes without the page\'s CSRF token, from another origin or another Host, or unconfirmed', async () => {
    const csrf = await csrfOf(ui.url);
    const purge = (headers: Record<string, string>, body = JSON.stringify({ queue, confirm: true })) =>
      http(`${ui.url}api/dlq/purge`, 'POST', { 'content-type': 'application/json', ...headers }, body);
    expect((await purge({})).status).to.equal(403);
    expect((await purge({ 'x-taskbus-csrf': 'guess' })).status).to.equal(403);
    expect((await purge({ 'x-taskbus-csrf': csrf, origin: 'http://evil.example' })).status).to.equal(403);
    expect((await purge({ 'x-taskbus-csrf': csrf, host: `rebound.example:${PORTS.ui}` })).status).to.equal(421);
    expect((await purge({ 'x-taskbus-csrf': csrf, 'content-type': 'text/plain' })).status).to.equal(400);
    expect((await purge({ 'x-taskbus-csrf': csrf }, JSON.stringify({ queue }))).status).to.equal(400);
    expect((await http(`${ui.url}api/dlq/purge`, 'GET', {})).status, 'GET never changes state').to.not.equal(200);
    expect(await queueDepth(raw, `${queue}.dlq`)).to.equal(1);
    const page404 = await http(ui.url, 'GET', { host: `evil.example:${PORTS.ui}` });
    expect(page404.status).to.equal(421);
    expect(page404.body).to.not.include('taskbus-csrf');
  });

  it('replaying an id that is gone says so; a queue consumed under a .dlq name is never purged nor replayed from', async () => {
    const csrf = await csrfOf(ui.url);
    const post = (path: string, body: object) => http(`${ui.url}api/dlq/${path}`, 'POST', { 'content-type': 'application/json', 'x-taskbus-csrf': csrf }, JSON.stringify({ ...body, confirm: true }));
    const gone = await post('replay', { queue, id: 'no-such-id' });
    expect(gone.status).to.equal(404);
    expect(JSON.parse(gone.body).error).to.match(/no dead letter no-such-id in .*\.dlq: replayed or purged meanwhile/);
    expect((await post('purge', { queue: `${queue}.dlq` })).status, 'a .dlq name is not a task queue').to.equal(400);
    const none = await http(`${ui.url}api/dlq?queue=no-such-queue-${PORTS.ui}`, 'GET', {});
    expect(none.status, 'no such dead-letter queue').to.equal(404);
    expect(JSON.parse(none.body).error).to.include('there is no dead-letter queue');
    // A task queue that happens to end in .dlq, with its consumer: the dashboard must not purge it.
    const work = uniqueQueue('ui-work');
    await raw.channel.assertQueue(`${work}.dlq`, { durable: false, autoDelete: true });
    for (let i = 0; i < 3; i++) raw.channel.sendToQueue(`${work}.dlq`, Buffer.from('[[], {}, {}]'));
    await raw.channel.prefetch(1);
    const { consumerTag } = await raw.channel.consume(`${work}.dlq`, () => undefined); // holds one, never acks
    try {
      const refused = await post('purge', { queue: work });
      expect(refused.status).to.equal(409);
      expect(JSON.parse(refused.body).error).to.include('a task queue, not a dead-letter queue');
      expect((await post('replay', { queue: work })).status).to.equal(409);
      expect((await http(`${ui.url}api/dlq?queue=${encodeURIComponent(work)}`, 'GET', {})).status, 'not even read').to.equal(409);
      expect(await queueDepth(raw, `${work}.dlq`)).to.equal(2);
    } finally {
      await raw.channel.cancel(consumerTag);
      await raw.channel.deleteQueue(`${work}.dlq`);
    }
  });

  it('two replay-alls at once while new dead letters arrive: each dead letter replayed at most once, none lost', async () => {
    const csrf = await csrfOf(ui.url);
    const rq = uniqueQueue('ui-race');
    await raw.channel.assertQueue(rq, { durable: true });
    await raw.channel.assertQueue(`${rq}.dlq`, { durable: true });
    const dead = (i: number) =>
      raw.channel.sendToQueue(`${rq}.dlq`, Buffer.from('[[], {}, {}]'), { contentType: 'application/json', headers: { task: 'ui.race', id: `race-${i}`, 'x-taskbus-queue': rq, 'x-taskbus-reason': 'failed' } });
    try {
      for (let i = 0; i < 40; i++) dead(i);
      await waitFor('40 dead letters', async () => ((await queueDepth(raw, `${rq}.dlq`)) === 40 ? true : undefined));
      const replayAll = () => http(`${ui.url}api/dlq/replay`, 'POST', { 'content-type': 'application/json', 'x-taskbus-csrf': csrf }, JSON.stringify({ queue: rq, confirm: true }));
      const answers = Promise.all([replayAll(), replayAll()]);
      for (let i = 40; i < 50; i++) dead(i);
      const reports = (await answers).map((a) => JSON.parse(a.body) as { replayed: number });
      const replayed = reports.reduce((n, r) => n + r.replayed, 0);
      await waitFor('every message in one of the two queues', async () => ((await queueDepth(raw, rq))! + (await queueDepth(raw, `${rq}.dlq`))! === 50 ? true : undefined));
      expect(await queueDepth(raw, rq)).to.equal(replayed);
      expect(replayed).to.be.at.least(40);
      const ids: string[] = [];
      for (let m = await raw.channel.get(rq, { noAck: true }); m !== false; m = await raw.channel.get(rq, { noAck: true })) ids.push(String(m.properties.headers?.['id']));
      expect(new Set(ids).size, 'no dead letter replayed twice').to.equal(ids.length);
    } finally {
      await deleteQueues(rq);
    }
  });

  it('purges after a confirmation; cancelling does nothing', async () => {
    await page.click(`tr[data-dlq-queue="${queue}"] button[data-action="purge"]`);
    await page.click('#confirm-no');
    await page.waitForTimeout(1500);
    expect(await queueDepth(raw, `${queue}.dlq`)).to.equal(1);
    await page.click(`tr[data-dlq-queue="${queue}"] button[data-action="purge"]`);
    await page.click('#confirm-yes');
    await shows(`tr[data-dlq-queue="${queue}"] td[data-col="count"]`, '0');
    expect(await queueDepth(raw, `${queue}.dlq`)).to.equal(0);
  });

  it('will not listen beyond loopback without TASKBUS_UI_TOKEN', async () => {
    const run = await taskbus(cwd, 'ui', '--host', '0.0.0.0', '--port', String(PORTS.token));
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include('TASKBUS_UI_TOKEN');
  });

  it('with a token, every API request needs it (bearer or the login session); the page logs in', async () => {
    const token = 'ui-test-token-0123456789';
    let guarded = await startUi(cwd, ['--port', String(PORTS.token), '--queue', idle, '--interval', '1'], { TASKBUS_UI_TOKEN: token });
    try {
      expect(guarded.output()).to.not.include(token);
      const csrf = await csrfOf(guarded.url);
      expect((await http(`${guarded.url}api/state`, 'GET', {})).status).to.equal(401);
      expect((await http(`${guarded.url}api/state`, 'GET', { authorization: `Bearer ${token}` })).status).to.equal(200);
      const purge = (auth: Record<string, string>) =>
        http(`${guarded.url}api/dlq/purge`, 'POST', { 'content-type': 'application/json', 'x-taskbus-csrf': csrf, ...auth }, JSON.stringify({ queue, confirm: true }));
      expect((await purge({})).status).to.equal(401);
      expect((await purge({ authorization: 'Bearer wrong-token-000000000' })).status).to.equal(401);
      expect((await purge({ authorization: `Bearer ${token}` })).status).to.equal(200);
      const p = await browser.newPage();
      await p.goto(guarded.url);
      await p.waitForSelector('#login:not([hidden])');
      await p.fill('#login-token', 'wrong');
      await p.click('#login-submit');
      await waitForText(p, '#login-error', 'wrong token');
      await p.fill('#login-token', token);
      await p.click('#login-submit');
      await waitForText(p, `tr[data-queue="${idle}"] td[data-col="ready"]`, '14');
      // Restarted, the dashboard knows no session and has a new CSRF token: the open page asks to log in again.
      await guarded.stop();
      guarded = await startUi(cwd, ['--port', String(PORTS.token), '--queue', idle, '--interval', '1'], { TASKBUS_UI_TOKEN: token });
      await p.waitForSelector('#login:not([hidden])', { timeout: 20_000 });
      await p.fill('#login-token', token);
      await p.click('#login-submit');
      await waitForText(p, `tr[data-queue="${idle}"] td[data-col="ready"]`, '14');
      await p.close();
    } finally {
      await guarded.stop();
    }
  });

  it('with the management API: unacked counts, every queue of the vhost, hostile queue names shown as text', async () => {
    const hostileQueue = `q-${HOSTILE}`;
    const asked: string[] = [];
    const stub = createServer((req, res) => {
      asked.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify([
          // As RabbitMQ 3.10 lists a queue with traffic: message_stats with rates per second.
          { name: queue, messages_ready: 3, messages_unacknowledged: 2, consumers: 1, message_stats: { publish: 40, publish_details: { rate: 2.5 }, deliver_get: 35, deliver_get_details: { rate: 1.2 }, ack: 33, ack_details: { rate: 1.1 } } },
          { name: `${queue}.dlq`, messages_ready: 7, messages_unacknowledged: 0, consumers: 0 },
          { name: hostileQueue, messages_ready: 1, messages_unacknowledged: 0, consumers: 0 },
        ]),
      );
    });
    await new Promise<void>((resolve) => stub.listen(PORTS.management, '127.0.0.1', resolve));
    const managed = await startUi(cwd, ['--port', String(PORTS.managedUi), '--interval', '1', '--management', `http://127.0.0.1:${PORTS.management}`]);
    const p = await browser.newPage();
    try {
      await p.goto(managed.url);
      await waitForText(p, `tr[data-queue="${queue}"] td[data-col="unacked"]`, '2');
      expect(await p.locator(`tr[data-queue="${queue}"] td[data-col="dlq"]`).textContent()).to.equal('7');
      expect(await p.locator(`tr[data-queue="${queue}"] td[data-col="publish"]`).textContent()).to.equal('2.50');
      expect(await p.locator(`tr[data-queue="${queue}"] td[data-col="deliver"]`).textContent()).to.equal('1.20');
      expect(await p.locator(`tr[data-queue=${JSON.stringify(hostileQueue)}] td[data-col="publish"]`).textContent(), 'no message_stats: no rate').to.equal('-');
      expect(await p.locator('#queues-source').textContent()).to.equal('(management API)');
      const rows = await p.locator('#queues tbody tr td[data-col="queue"]').allTextContents();
      expect(rows).to.include(hostileQueue);
      expect(await p.locator('main img').count()).to.equal(0);
      expect(asked[0]).to.include(`/api/queues/${encodeURIComponent(VHOST)}?`).and.include('message_stats.publish_details.rate');
    } finally {
      await p.close();
      await managed.stop();
      await new Promise((resolve) => stub.close(resolve));
    }
  });

  it('the broker hanging, then gone, then back: each is told within seconds, then the workers and queues return', async () => {
    const forwarder = new Forwarder();
    await forwarder.open(PORTS.forwarder);
    const url = new URL(AMQP_URL);
    url.port = String(PORTS.forwarder);
    const flaky = await startUi(cwd, ['--port', String(PORTS.flakyUi), '--queue', idle, '--interval', '1'], { AMQP_URL: url.href });
    type State = { sample: number; errors: string[]; workers: { node: string }[]; queues: { queue: string; state: string }[] };
    const state = async () => JSON.parse((await http(`${flaky.url}api/state`, 'GET', {})).body) as State;
    const healthy = () =>
      waitFor('a healthy sample with the worker and the queue', async () => {
        const s = await state();
        return s.errors.length === 0 && s.workers.some((w) => w.node === worker.name) && s.queues.some((q) => q.queue === idle && q.state === 'ok') ? s : undefined;
      }, 30_000);
    try {
      await healthy();
      forwarder.freeze();
      const frozen = await waitFor('the hang told', async () => {
        const s = await state();
        return s.errors.length > 0 ? s : undefined;
      }, 20_000);
      expect(frozen.errors.join('\n')).to.match(/did not answer within/).and.not.include(`:${url.password}@`);
      await forwarder.shut();
      await waitFor('the outage told', async () => ((await state()).errors.some((e) => /cannot reach|ECONNREFUSED|refused/i.test(e)) ? true : undefined), 20_000);
      await forwarder.open(PORTS.forwarder);
      await healthy();
    } finally {
      await flaky.stop();
      await forwarder.shut();
    }
  });

  it('with the broker down, the page says so, never with the password', async () => {
    const metrics = `http://carol:S3cret-metrics@127.0.0.1:${PORTS.downBroker}/metrics`; // an operator's --metrics with a login
    const down = await startUi(cwd, ['--port', String(PORTS.downUi), '--queue', idle, '--interval', '1', '--metrics', metrics], { AMQP_URL: `amqp://bob:S3cret-pw@127.0.0.1:${PORTS.downBroker}/ui` });
    try {
      const state = await waitFor('a sample', async () => {
        const answer = await http(`${down.url}api/state`, 'GET', {});
        return answer.status === 200 ? answer.body : undefined;
      });
      expect(JSON.parse(state).errors.join('\n')).to.include('cannot reach RabbitMQ at amqp://***@127.0.0.1').and.include(`metrics of http://***@127.0.0.1:${PORTS.downBroker}/metrics`);
      expect(state + down.output()).to.not.include('S3cret');
    } finally {
      await down.stop();
    }
  });
});
