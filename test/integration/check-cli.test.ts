import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { taskbus } from '../support/cli.js';

/** Edits contracts/pusher.ts in place: each [from, to] must match. */
function edit(dir: string, ...changes: [string, string][]): void {
  const path = join(dir, 'contracts/pusher.ts');
  let text = readFileSync(path, 'utf8');
  for (const [from, to] of changes) {
    if (!text.includes(from)) throw new Error(`contracts/pusher.ts has no ${from}`);
    text = text.replace(from, to);
  }
  writeFileSync(path, text);
}

const V1_CONTENT_REMOVED: [string, string] = ["args: { key: Type.String({ minLength: 1 }), content: Type.String() },", 'args: { key: Type.String({ minLength: 1 }) },'];
const V3_ADDED: [string, string] = [
  '          result: StoredObject,\n        },\n      },',
  "          result: StoredObject,\n        },\n        3: { name: 'pusher.send_to_s3_v3', args: { key: Type.String() }, result: StoredObject },\n      },",
];

describe('taskbus check (CLI) on real git history', () => {
  let dir: string;
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' });
  const commit = (message: string) => {
    git('add', '-A');
    git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', message);
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'taskbus-check-'));
    cpSync('contracts', join(dir, 'contracts'), { recursive: true });
    git('init', '-q');
    commit('pusher 1.0.0');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a breaking change against HEAD~1: exit 1, one line naming service, task, version, Celery name and reason', async () => {
    edit(dir, V1_CONTENT_REMOVED);
    commit('drop content');
    const run = await taskbus(dir, 'check', '--against', 'HEAD~1');
    expect(run.code, run.stderr).to.equal(1);
    expect(run.stdout.trim().split('\n')).to.deep.equal([
      "breaking: pusher sendToS3 v1 (pusher.send_to_s3): argument 'content' removed",
      'pusher 1.0.0 -> 1.0.0: needs a major bump, which the version does not say: set version to 2.0.0 or later',
      'taskbus check: breaking changes or a version too low against HEAD~1',
    ]);
  });

  it('a compatible change against HEAD~1 with a minor bump: exit 0, listed, bump confirmed', async () => {
    edit(dir, V3_ADDED, ["version: '1.0.0'", "version: '1.1.0'"]);
    commit('add v3');
    const run = await taskbus(dir, 'check', '--against', 'HEAD~1');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout.trim().split('\n')).to.deep.equal([
      'compatible: pusher sendToS3 v3 (pusher.send_to_s3_v3): new version',
      'pusher 1.0.0 -> 1.1.0: needs a minor bump',
      'taskbus check: compatible with HEAD~1',
    ]);
  });

  it('a compatible change left at the old version: exit 1, naming the version it needs', async () => {
    edit(dir, V3_ADDED);
    const run = await taskbus(dir, 'check', '--against', 'HEAD');
    expect(run.code).to.equal(1);
    expect(run.stdout).to.include('pusher 1.0.0 -> 1.0.0: needs a minor bump, which the version does not say: set version to 1.1.0 or later');
  });

  it('the queue made quorum against HEAD~1, even with a major bump: exit 1, each version on the queue named', async () => {
    edit(dir, ["queue: 'pusher',", "queue: 'pusher',\n  queueType: 'quorum',"], ["version: '1.0.0'", "version: '2.0.0'"]);
    commit('quorum');
    const run = await taskbus(dir, 'check', '--against', 'HEAD~1');
    expect(run.code, run.stderr).to.equal(1);
    const why = "queue 'pusher' changed from classic to quorum (callers with the earlier bindings declare it as classic, and RabbitMQ refuses them with 406 PRECONDITION_FAILED)";
    expect(run.stdout.trim().split('\n')).to.deep.equal([
      `breaking: pusher sendToS3 v1 (pusher.send_to_s3): ${why}`,
      `breaking: pusher sendToS3 v2 (pusher.send_to_s3_v2): ${why}`,
      'pusher 1.0.0 -> 2.0.0: needs a major bump',
      'taskbus check: breaking changes or a version too low against HEAD~1',
    ]);
  });

  it('--against a directory of earlier contracts', async () => {
    cpSync(join(dir, 'contracts'), join(dir, 'before'), { recursive: true });
    edit(dir, V1_CONTENT_REMOVED);
    const run = await taskbus(dir, 'check', '--against', 'before');
    expect(run.code).to.equal(1);
    expect(run.stdout).to.include("breaking: pusher sendToS3 v1 (pusher.send_to_s3): argument 'content' removed");
  });

  it('an unknown revision is a usage error (exit 2)', async () => {
    const run = await taskbus(dir, 'check', '--against', 'no-such-ref');
    expect(run.code).to.equal(2);
    expect(run.stderr.trim()).to.match(/^taskbus: --against no-such-ref: neither a directory nor a commit of the repository at /);
  });
});

describe('taskbus generate refuses a version lower than the changes need', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'taskbus-bump-'));
    cpSync('contracts', join(dir, 'contracts'), { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('exit 2 naming both versions and the bump, nothing written; an honest version generates', async () => {
    expect((await taskbus(dir, 'generate')).code).to.equal(0);
    const before = readFileSync(join(dir, 'generated/pusher-bindings/src/contract.ts'), 'utf8');
    edit(dir, V3_ADDED, ["version: '1.0.0'", "version: '1.0.1'"]);
    const refused = await taskbus(dir, 'generate');
    expect(refused.code).to.equal(2);
    expect(refused.stderr.trim()).to.equal(
      'taskbus: pusher: the changes since 1.0.0 need a minor bump, but the contract says 1.0.1; set version to 1.1.0 or later (`taskbus check` lists the changes)',
    );
    expect(readFileSync(join(dir, 'generated/pusher-bindings/src/contract.ts'), 'utf8')).to.equal(before);
    edit(dir, ["version: '1.0.1'", "version: '1.1.0'"]);
    const gen = await taskbus(dir, 'generate');
    expect(gen.code, gen.stderr).to.equal(0);
    expect(JSON.parse(readFileSync(join(dir, 'generated/pusher-bindings/package.json'), 'utf8'))).to.include({ version: '1.1.0' });
  });
});
