import { expect } from 'chai';
import { monotonicSeconds, RevokedSet, REVOKE_EXPIRES_S, REVOKES_MAX } from '../../../runtime/src/control/revoked.js';

/** A set on a clock the test moves. */
function atClock(max = REVOKES_MAX, expires = REVOKE_EXPIRES_S) {
  const clock = { now: 1000 };
  return { clock, set: new RevokedSet(max, expires, () => clock.now) };
}

describe('RevokedSet: Celery LimitedSet(maxlen=50000, expires=10800) semantics', () => {
  it('reads the clock Celery stamps revokes with (time.monotonic, i.e. CLOCK_MONOTONIC = process.hrtime)', () => {
    const hr = Number(process.hrtime.bigint()) / 1e9;
    expect(Math.abs(monotonicSeconds() - hr)).to.be.below(0.05);
  });

  it('has() an id revoked, until it expires', () => {
    const { clock, set } = atClock();
    expect(set.has('a')).to.equal(false);
    set.add('a');
    expect(set.has('a')).to.equal(true);
    clock.now += REVOKE_EXPIRES_S - 1;
    expect(set.has('a')).to.equal(true);
    clock.now += 1;
    expect(set.has('a')).to.equal(false);
  });

  it('forgets the oldest past its bound', () => {
    const { clock, set } = atClock(3);
    for (const id of ['a', 'b', 'c', 'd']) {
      clock.now += 1;
      set.add(id);
    }
    expect(set.ids()).to.deep.equal(['b', 'c', 'd']);
    set.add('b'); // renewed: now the newest
    set.add('e');
    expect(set.ids()).to.deep.equal(['d', 'b', 'e']);
  });

  it('purges expired ids as new ones come', () => {
    const { clock, set } = atClock(10, 100);
    set.add('old');
    clock.now += 150;
    set.add('new');
    expect(set.size).to.equal(1);
  });

  it("merges another worker's {id: [t, id]} (hello reply) and {id: t}, in time order, skipping expired ones", () => {
    const { clock, set } = atClock(10, 100);
    clock.now = 500;
    set.add('mine');
    const learnt = set.merge({ older: [450, 'older'], plain: 470, expired: [350, 'expired'], ahead: [9999, 'ahead'], junk: 'x' });
    expect(learnt).to.equal(3);
    expect(set.ids()).to.deep.equal(['older', 'plain', 'mine', 'ahead']);
    expect(set.has('expired')).to.equal(false);
    // A time ahead of ours (another host) counts as now: it expires 100 s from here.
    clock.now = 599;
    expect(set.has('ahead')).to.equal(true);
    expect(set.has('older')).to.equal(false);
  });

  it('a merge keeps the later of two times for an id', () => {
    const { set } = atClock(10, 100);
    set.add('x'); // at 1000
    expect(set.merge({ x: [950, 'x'] })).to.equal(0);
    expect(set.entries()).to.deep.equal([['x', 1000]]);
  });

  it('adds past the bound stay cheap: 150,000 revokes (one Celery revoke message may hold them) well under a second', () => {
    const set = new RevokedSet();
    const started = performance.now();
    for (let i = 0; i < 150_000; i++) set.add(`id-${i}`);
    expect(performance.now() - started).to.be.below(1000);
    const ids = set.ids();
    expect([ids.length, ids[0], ids.at(-1)]).to.deep.equal([REVOKES_MAX, 'id-100000', 'id-149999']);
    expect([set.has('id-99999'), set.has('id-100000')]).to.deep.equal([false, true]);
  });

  it('has() on the hot path: no allocation worth measuring over a million lookups', () => {
    const set = new RevokedSet();
    for (let i = 0; i < 1000; i++) set.add(`id-${i}`);
    const probe = 'id-not-there';
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    let hits = 0;
    for (let i = 0; i < 1_000_000; i++) if (set.has(probe)) hits++;
    const grown = process.memoryUsage().heapUsed - before;
    expect(hits).to.equal(0);
    expect(grown, 'heap growth over 1e6 lookups').to.be.below(1_000_000);
  });
});
