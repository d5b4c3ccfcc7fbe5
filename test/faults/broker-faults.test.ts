import { expect } from 'chai';
import { brokerUp, rabbitmqctl, rabbitmqctlAsync, size, sleep, underFault } from './harness.js';

/** Rejections must be typed taskbus errors with a code, never hangs or untyped errors. */
function expectTyped(rejected: Map<string, string>): void {
  for (const code of rejected.values()) expect(code).to.match(/^E_[A-Z_]+$/);
}

describe('faults 2-5: the broker restarts, drops connections, freezes, raises a memory alarm', function () {
  this.timeout(600_000);
  afterEach(async () => brokerUp());

  it('2: stop_app / start_app during a confirmed burst: every publish settles, lost 0', async () => {
    const { tally: t, published: p } = await underFault('stop-start-app', size(2000, 10_000), async () => {
      await rabbitmqctlAsync('stop_app');
      await sleep(1000);
      await rabbitmqctlAsync('start_app');
    });
    expectTyped(p.rejected);
    expect(p.after.every((id) => p.confirmed.has(id)), 'publishes after the restart are confirmed').to.equal(true);
    expect(t.lost).to.equal(0);
  });

  it('3: close_all_connections 5 times during publish and consume: both sides recover, lost 0', async () => {
    const { tally: t, published: p } = await underFault('close-all-connections-x5', size(2000, 10_000), async () => {
      for (let i = 0; i < 5; i++) {
        await rabbitmqctlAsync('close_all_connections', 'taskbus fault test');
        await sleep(300);
      }
    });
    expectTyped(p.rejected);
    expect(p.rejected.size).to.equal(0);
    expect(t.lost).to.equal(0);
  });

  it('4: broker frozen (SIGSTOP) beyond the heartbeat, then resumed: detected, lost 0', async () => {
    const pid = JSON.parse(rabbitmqctl('eval', 'os:getpid().').trim()) as string;
    const { tally: t, published: p } = await underFault(
      'sigstop-beyond-heartbeat',
      size(2000, 5000),
      async () => {
        process.kill(Number(pid), 'SIGSTOP');
        try {
          await sleep(7000); // heartbeat 2 s: well past two missed beats
        } finally {
          process.kill(Number(pid), 'SIGCONT');
        }
      },
      { client: { heartbeat: 2 }, workerEnv: { FAULT_HEARTBEAT: '2' } },
    );
    expectTyped(p.rejected);
    expect(t.lost).to.equal(0);
  });

  it('5: memory alarm: the publisher blocks and resumes, the buffer stays bounded, lost 0', async () => {
    const watermark = rabbitmqctl('eval', 'vm_memory_monitor:get_vm_memory_high_watermark().').trim();
    const { tally: t, published: p } = await underFault(
      'memory-alarm',
      size(2000, 5000),
      async () => {
        await rabbitmqctlAsync('set_vm_memory_high_watermark', '0');
        try {
          await sleep(3000);
        } finally {
          await rabbitmqctlAsync('set_vm_memory_high_watermark', watermark);
        }
      },
      { client: { maxBuffered: 100 } },
    );
    // The publisher keeps 200 calls open while the broker blocks it: with a 100-call buffer some must be
    // refused at once with BufferFullError rather than pile up.
    expectTyped(p.rejected);
    expect(p.rejected.size, 'calls refused while the buffer was full').to.be.greaterThan(0);
    expect([...p.rejected.values()].every((c) => c === 'E_BUFFER_FULL')).to.equal(true);
    expect(p.after.every((id) => p.confirmed.has(id)), 'publishing resumes after the alarm').to.equal(true);
    expect(t.lost).to.equal(0);
  });
});
