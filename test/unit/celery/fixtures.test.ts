import { readdirSync, readFileSync } from 'node:fs';
import type { ConsumeMessage } from 'amqplib';
import { expect } from 'chai';
import { decodeDelivery, type RawDelivery } from '../../../runtime/src/celery/decode.js';
import { amqpInt, encodeTask } from '../../../runtime/src/celery/encode.js';
import { deadLetterProperties } from '../../../runtime/src/deadletter.js';
import { parseJson } from '../../../runtime/src/celery/json.js';
import { decodeResult, encodeResult, readException } from '../../../runtime/src/celery/result.js';
import { celeryVersions } from '../../support/python.js';

// Real Celery messages, as amqplib delivered them (recorded by `npm run fixtures:capture`), one folder per version.
interface Fixture {
  readonly name: string;
  readonly kind: 'task' | 'reply';
  readonly expect: { args?: unknown[]; kwargs?: Record<string, unknown>; result?: unknown };
  readonly properties: RawDelivery['properties'] & { headers: Record<string, unknown> };
  readonly content: string;
}

/** Headers Celery 5.3+ adds that taskbus neither writes nor needs (it passes them through). */
const CELERY_53_HEADERS = ['replaced_task_nesting', 'stamped_headers', 'stamps'];

const delivery = (f: Fixture): RawDelivery => ({ content: Buffer.from(f.content, 'base64'), properties: f.properties });

/** Header values as amqplib would decode what we send (typed ints become plain numbers), at any depth. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && '!' in v) return (v as { '!': string; value: unknown }).value;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Where a header still holds a bare integer, which amqplib would send as a type py-amqp misreads. */
function untypedIntegers(v: unknown, path: string): string[] {
  if (Number.isInteger(v)) return [path];
  if (Array.isArray(v)) return v.flatMap((x, i) => untypedIntegers(x, `${path}[${i}]`));
  if (v && typeof v === 'object' && !('!' in v)) return Object.entries(v).flatMap(([k, x]) => untypedIntegers(x, `${path}.${k}`));
  return [];
}

for (const celery of celeryVersions) {
  const dir = new URL(`../../fixtures/${celery.fixtures}/`, import.meta.url);
  const fixtures = readdirSync(dir)
    .sort()
    .map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as Fixture);
  const fixture = (name: string) => fixtures.find((f) => f.name === name)!;

  describe(`real ${celery.name} captures`, () => {
    it('are present', () =>
      expect(fixtures.map((f) => f.name)).to.include.members(['task-plain', 'task-options', 'task-types', 'reply-success', 'reply-failure', 'reply-types', ...(celery.stamping ? ['task-stamped'] : [])]));

    for (const f of fixtures.filter((x) => x.kind === 'task')) {
      describe(f.name, () => {
        const decoded = decodeDelivery(delivery(f));

        it('decodes to the args and kwargs Celery was given', () => {
          expect(decoded.ok).to.equal(true);
          if (!decoded.ok) return;
          expect(decoded.message.args).to.deep.equal(f.expect.args);
          expect(decoded.message.kwargs).to.deep.equal(f.expect.kwargs);
          expect(decoded.message.id).to.equal(f.properties.correlationId);
        });

        it('re-encodes to the same body, properties and header set as Celery', () => {
          if (!decoded.ok) throw new Error('not decoded');
          const m = decoded.message;
          const ours = encodeTask(
            {
              id: m.id,
              task: m.task,
              args: m.args,
              kwargs: m.kwargs,
              replyTo: m.replyTo!,
              origin: m.origin!,
              options: {
                ...(m.eta ? { eta: m.eta } : {}),
                ...(m.expires ? { expires: m.expires } : {}),
                retries: m.retries,
                ...(m.timeLimit[0] !== null ? { timeLimit: m.timeLimit[0] } : {}),
                ...(m.timeLimit[1] !== null ? { softTimeLimit: m.timeLimit[1] } : {}),
                ...(m.priority !== null ? { priority: m.priority } : {}),
                ignoreResult: m.ignoreResult,
              },
            },
            new Date(),
          );
          // Compared as decoded: kombu 5.3+ writes typed values in wrappers, taskbus writes the plain value (as 5.2 does).
          expect(JSON.parse(ours.content.toString())).to.deep.equal(parseJson(Buffer.from(f.content, 'base64').toString()));
          const theirs = f.properties.headers;
          const newer = celery.stamping ? CELERY_53_HEADERS : [];
          expect([...Object.keys(ours.properties.headers), ...newer].sort()).to.deep.equal(Object.keys(theirs).sort());
          for (const [key, value] of Object.entries(ours.properties.headers)) {
            if (key === 'argsrepr' || key === 'kwargsrepr') continue; // Python repr vs our JSON: informational only
            if ((key === 'eta' || key === 'expires') && theirs[key] !== null) {
              // Microseconds survive Celery, milliseconds survive a JS Date.
              expect(Math.abs(Date.parse(String(value)) - Date.parse(String(theirs[key])))).to.be.lessThan(1);
              continue;
            }
            expect(plain(value), key).to.deep.equal(theirs[key]);
          }
          expect(ours.properties).to.include({ contentType: f.properties.contentType, contentEncoding: f.properties.contentEncoding, correlationId: m.id });
          expect(ours.properties.priority ?? 0).to.equal(f.properties.priority ?? 0);
        });

        it('keeps every header Celery sent when retried or dead-lettered, integers typed at any depth', () => {
          const msg = { content: Buffer.from(f.content, 'base64'), fields: {}, properties: f.properties } as unknown as ConsumeMessage;
          const copy = deadLetterProperties(msg, 'q', 'failed', 'RangeError: boom');
          for (const [key, value] of Object.entries(f.properties.headers)) expect(plain(copy.headers[key]), key).to.deep.equal(value);
          expect(untypedIntegers(copy.headers, 'headers')).to.deep.equal([]);
          expect(copy).to.include({ replyTo: f.properties.replyTo, correlationId: f.properties.correlationId, persistent: true });
        });
      });
    }

    it('task-options: every option Celery set is read back', () => {
      const d = decodeDelivery(delivery(fixture('task-options')));
      if (!d.ok) throw new Error(d.detail);
      expect(d.message).to.deep.include({ retries: 200, timeLimit: [300, 240], ignoreResult: true, priority: 5, stamps: {} });
      expect(d.message.eta?.toISOString()).to.equal('2030-01-02T03:04:05.678Z');
      expect(d.message.expires?.toISOString()).to.equal('2030-01-02T04:04:05.678Z');
      expect(amqpInt(200)).to.deep.equal({ '!': 'long', value: 200 });
    });

    for (const [name, status, exc] of [
      ['reply-success', 'SUCCESS', null],
      ['reply-failure', 'FAILURE', { type: 'ValueError', message: 'disk on fire', module: 'builtins' }],
      ['reply-revoked', 'REVOKED', { type: 'TaskRevokedError', message: 'expired', module: 'celery.exceptions' }],
    ] as const) {
      it(`${name}: decodes, and re-encodes equivalent to Celery's reply`, () => {
        const f = fixture(name);
        const d = decodeResult(delivery(f));
        if (!d.ok) throw new Error(d.detail);
        expect(d.message.status).to.equal(status);
        if (exc) expect(readException(d.message.result)).to.deep.equal(exc);
        const ours = encodeResult(d.message);
        expect(JSON.parse(ours.content.toString())).to.deep.equal(parseJson(Buffer.from(f.content, 'base64').toString()));
        expect(ours.properties).to.include({ contentType: f.properties.contentType, correlationId: f.properties.correlationId });
      });
    }

    if (celery.stamping) {
      it('task-stamped: the stamps arrive as headers and decode without getting in the way', () => {
        const f = fixture('task-stamped');
        expect(f.properties.headers['stamped_headers']).to.have.members(['tenant', 'route', 'budget']);
        expect(f.properties.headers).to.deep.include({ stamps: { tenant: 'acme', route: [1, 200], budget: 300 }, replaced_task_nesting: 0 });
        const d = decodeDelivery(delivery(f));
        expect(d.ok && d.message.args).to.deep.equal(['stamped/file.json', 'c']);
        expect(d.ok && d.message.stamps).to.deep.equal({ tenant: 'acme', route: [1, 200], budget: 300 });
      });
    }

    it('reply-types: UUID, Decimal and datetime results arrive as the strings kombu 5.2 would send', () => {
      const f = fixture('reply-types');
      const d = decodeResult(delivery(f));
      if (!d.ok) throw new Error(d.detail);
      expect(d.message.result).to.deep.equal(f.expect.result);
    });
  });
}
