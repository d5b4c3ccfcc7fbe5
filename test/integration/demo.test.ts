import { expect } from 'chai';
import { runProcess, type ProcessRun } from '../support/process.js';

/** Runs the README's demo as a user would (after the build `npm run demo` does first). */
function demo(env: NodeJS.ProcessEnv = {}): Promise<ProcessRun> {
  return runProcess(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { env });
}

describe('npm run demo', () => {
  it('backs up every item of both services into S3, prints each key with its size and exits 0', async () => {
    const run = await demo({ S3_ENDPOINT: '' });
    expect(run.code, run.stderr).to.equal(0);
    const listed = run.stdout.match(/^ {2}service-[ab]\/items\/demo-\d+-\d\.json {2}\d+ bytes$/gm) ?? [];
    expect(listed).to.have.length(6);
    expect(listed.filter((l) => l.includes('service-a/'))).to.have.length(3);
    expect(run.stdout).to.match(/all 6 items backed up/);
    expect(run.stderr).not.to.match(/NodeVersionSupportWarning/);
  });

  it('with no broker, says so in one line and how to start one, and exits non-zero', async () => {
    const run = await demo({ AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' });
    expect(run.code).to.not.equal(0);
    expect(run.stdout).to.equal('');
    expect(run.stderr.trim().split('\n')).to.deep.equal([
      'demo: cannot reach RabbitMQ at amqp://***@127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1); start one with `rabbitmq-server -detached` or point AMQP_URL at a running broker',
    ]);
  });
});
