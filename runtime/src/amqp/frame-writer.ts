/**
 * A field value as taskbus puts it in AMQP tables: 64-bit integers are tagged, as amqplib's `{'!': 'long'}`;
 * fractions (a time limit of 0.5 s) as its `{'!': 'double'}`.
 */
export type FieldValue = string | boolean | null | Long | Double | readonly FieldValue[];
export interface Long {
  readonly '!': 'long';
  readonly value: number;
}
export interface Double {
  readonly '!': 'double';
  readonly value: number;
}

const TWO_32 = 2 ** 32;
/** AMQP short strings (queue names, routing keys, correlation ids) hold at most this many bytes. */
export const SHORTSTR_MAX = 255;

/**
 * Writes AMQP frames into a reusable buffer (grown when needed); `take()` copies out what was written.
 * Field values are encoded exactly as amqplib encodes the same JavaScript values.
 */
export class FrameWriter {
  private buf: Buffer;
  at = 0;

  constructor(size = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Makes room for n more bytes. */
  reserve(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }

  reset(): this {
    this.at = 0;
    return this;
  }

  /** A copy of the bytes written since the last reset. */
  take(extra = 0): Buffer {
    const out = Buffer.allocUnsafe(this.at + extra);
    this.buf.copy(out, 0, 0, this.at);
    return out;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.at++] = v;
  }

  u16(v: number): void {
    this.reserve(2);
    this.at = this.buf.writeUInt16BE(v, this.at);
  }

  u32(v: number): void {
    this.reserve(4);
    this.at = this.buf.writeUInt32BE(v, this.at);
  }

  /** Overwrites a 32-bit length written earlier (frame and table sizes known only at their end). */
  u32At(v: number, at: number): void {
    this.buf.writeUInt32BE(v, at);
  }

  u16At(v: number, at: number): void {
    this.buf.writeUInt16BE(v, at);
  }

  /** An IEEE 754 double, big-endian. */
  f64(v: number): void {
    this.reserve(8);
    this.at = this.buf.writeDoubleBE(v, this.at);
  }

  /** A 64-bit integer, signed; exact for safe integers. */
  i64(v: number): void {
    this.reserve(8);
    const hi = Math.floor(v / TWO_32);
    this.at = this.buf.writeInt32BE(hi, this.at);
    this.at = this.buf.writeUInt32BE(v - hi * TWO_32, this.at);
  }

  bytes(b: Buffer): void {
    this.reserve(b.length);
    this.at += b.copy(this.buf, this.at);
  }

  /** An AMQP short string (method and property fields); refuses more than 255 bytes as amqplib does. */
  shortstr(s: string, field: string): void {
    this.reserve(1 + s.length * 3);
    const n = this.buf.write(s, this.at + 1, 'utf8');
    if (n > SHORTSTR_MAX) throw new TypeError(`Field '${field}' is the wrong type; must be a string (up to 255 chars)`);
    this.buf[this.at] = n;
    this.at += 1 + n;
  }

  /** A long string (in tables): 32-bit length, UTF-8. */
  longstr(s: string): void {
    this.reserve(4 + s.length * 3);
    const n = this.buf.write(s, this.at + 4, 'utf8');
    this.buf.writeUInt32BE(n, this.at);
    this.at += 4 + n;
  }

  /** A field table of the given entries, in their order; undefined values are left out, as amqplib does. */
  table(entries: Readonly<Record<string, FieldValue | undefined>>): void {
    this.reserve(4);
    const start = this.at;
    this.at += 4;
    this.entries(entries);
    this.u32At(this.at - start - 4, start);
  }

  /** Table entries without the table's length (see constantEntries). */
  entries(entries: Readonly<Record<string, FieldValue | undefined>>): void {
    for (const key in entries) {
      const value = entries[key];
      if (value === undefined) continue;
      this.shortstr(key, 'table key');
      this.value(value);
    }
  }

  value(v: FieldValue): void {
    if (typeof v === 'string') {
      this.u8(0x53); // S
      this.longstr(v);
    } else if (v === null) {
      this.u8(0x56); // V
    } else if (typeof v === 'boolean') {
      this.u8(0x74); // t
      this.u8(v ? 1 : 0);
    } else if (isTagged(v)) {
      if (v['!'] === 'long') {
        this.u8(0x6c); // l
        this.i64(v.value);
      } else {
        this.u8(0x64); // d
        this.f64(v.value);
      }
    } else {
      this.u8(0x41); // A
      this.reserve(4);
      const start = this.at;
      this.at += 4;
      for (const item of v) this.value(item);
      this.u32At(this.at - start - 4, start);
    }
  }
}

function isTagged(v: Long | Double | readonly FieldValue[]): v is Long | Double {
  return !Array.isArray(v);
}

/** Table entries encoded once, for the header fields that are the same on every message of a kind. */
export function constantEntries(entries: Readonly<Record<string, FieldValue>>): Buffer {
  const w = new FrameWriter(1024);
  w.entries(entries);
  return w.take();
}
