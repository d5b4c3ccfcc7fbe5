/** Celery's bounds for the revoked set (celery/worker/state.py): REVOKES_MAX ids, each kept REVOKE_EXPIRES seconds. */
export const REVOKES_MAX = 50_000;
export const REVOKE_EXPIRES_S = 10_800;

/**
 * A task id travels as the message's correlation id, an AMQP short string: a longer "id" is no task's, and
 * keeping it would let revokes of megabyte ids grow the set to REVOKES_MAX times the broker's message size.
 */
export const isTaskId = (id: string): boolean => id !== '' && id.length <= 255 && Buffer.byteLength(id) <= 255;

/**
 * Seconds on the clock Celery stamps revokes with: `time.monotonic()`, which on Linux is CLOCK_MONOTONIC, the
 * clock of `process.hrtime`. Read through performance.now() (no allocation), offset once to hrtime's origin.
 */
const OFFSET_S = Number(process.hrtime.bigint()) / 1e9 - performance.now() / 1000;
export const monotonicSeconds = (): number => performance.now() / 1000 + OFFSET_S;

/** Ids past `max` (or expired) that an add leaves for a later bulk purge. */
const slack = (max: number): number => Math.max(16, max >> 3);

/**
 * The task ids this worker refuses to run, as Celery's `LimitedSet(maxlen=REVOKES_MAX, expires=REVOKE_EXPIRES)`:
 * an id added at time t is forgotten after t + expires, and past `max` ids the oldest go first. `has` is one map
 * lookup and one clock read, allocation-free, so it sits on the path of every delivery.
 *
 * The map is kept in ascending time order (a later add goes last), so forgetting is always from the front.
 */
export class RevokedSet {
  private at = new Map<string, number>();

  constructor(
    private readonly max = REVOKES_MAX,
    private readonly expiresS = REVOKE_EXPIRES_S,
    private readonly now: () => number = monotonicSeconds,
  ) {}

  get size(): number {
    this.purge();
    return this.at.size;
  }

  has(id: string): boolean {
    if (this.at.size === 0) return false;
    const t = this.at.get(id);
    return t !== undefined && t + this.expiresS > this.now();
  }

  /** Revoked now (again: its time is renewed). */
  add(id: string): void {
    this.at.delete(id);
    this.at.set(id, this.now());
    // Trimmed in bulk, past some slack: has() checks times itself, so an expired id left a while is harmless.
    if (this.at.size > this.max + slack(this.max)) this.purge();
  }

  /**
   * Revokes learnt from another worker (mingle), as Celery's LimitedSet.update reads them: `{id: t}` or
   * `{id: [t, id]}`, t on the sender's monotonic clock. A time ahead of ours (another host booted earlier) counts
   * as now; ids already expired are skipped. Returns how many ids were new.
   */
  merge(entries: Readonly<Record<string, unknown>>): number {
    const now = this.now();
    let added = 0;
    const incoming: [string, number][] = [];
    for (const [id, value] of Object.entries(entries)) {
      if (!isTaskId(id)) continue;
      const raw = Array.isArray(value) ? value[0] : value;
      if (typeof raw !== 'number' || !Number.isFinite(raw)) continue;
      const t = Math.min(raw, now);
      if (t + this.expiresS <= now) continue;
      const seen = this.at.get(id);
      if (seen !== undefined && seen >= t) continue;
      if (seen === undefined) added++;
      incoming.push([id, t]);
    }
    if (incoming.length === 0) return 0;
    // Rare (worker start, a neighbour's start): rebuild in time order rather than keep a heap on the hot path.
    const merged = new Map<string, number>(this.at);
    for (const [id, t] of incoming) merged.set(id, t);
    this.at = new Map([...merged.entries()].sort((a, b) => a[1] - b[1]));
    this.purge();
    return added;
  }

  /**
   * Forgets expired ids and the oldest past `max`, by building the map anew: V8 leaves a deleted entry as a
   * hole its iterators walk again, so deleting from the front one by one made every add at capacity walk
   * thousands of holes (a revoke of 300,000 ids froze the worker for minutes).
   */
  purge(): void {
    const limit = this.now() - this.expiresS;
    let expired = 0;
    for (const t of this.at.values()) {
      if (t > limit) break;
      expired++;
    }
    const drop = Math.max(expired, this.at.size - this.max);
    if (drop > 0) this.at = new Map([...this.at].slice(drop));
  }

  /** Ids, oldest first (Celery's `inspect revoked`). */
  ids(): string[] {
    this.purge();
    return [...this.at.keys()];
  }

  /** `[id, time]` pairs, oldest first, for a `hello` reply. */
  entries(): [string, number][] {
    this.purge();
    return [...this.at.entries()];
  }
}
