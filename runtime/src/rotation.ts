/**
 * Which broker of a list to try next. A round tries each once, starting after the one last lost, so a
 * client leaves a failed node at once and comes back to it only after the others, or when they fail too.
 */
export class BrokerRotation {
  private start = 0;
  private current: number | null = null;

  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`a rotation needs at least one broker, not ${count}`);
  }

  /** The indices one round tries, in order. */
  round(): number[] {
    return Array.from({ length: this.count }, (_, i) => (this.start + i) % this.count);
  }

  connected(index: number): void {
    this.current = index;
  }

  /** The connection to the current broker is gone (or unusable): the next round begins with the one after it. */
  lost(): void {
    if (this.current === null) return;
    this.start = (this.current + 1) % this.count;
    this.current = null;
  }
}
