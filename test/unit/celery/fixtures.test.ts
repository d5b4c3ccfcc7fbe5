import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { decodeDelivery, type RawDelivery } from '../../../runtime/src/celery/decode.js';
import { amqpInt, encodeTask } from '../../../runtime/src/celery/encode.js';
import { decodeResult, encodeResult, readException } from '../../../runtime/src/celery/result.js';

// Real Celery 5.2 messages, as amqplib delivered them (recorded by `npm run fixtures:capture`).
interface Fixture {
  readonly name: string;
  readonly kind: 'task' | 'reply';
  readonly expect: { args?: unknown[]; kwargs?: Record<string, unknown> };
  readonly properties: RawDelivery['properties'] & { headers: Record<string, unknown> };
  readonly content: string;
}

const dir = new URL('../../fixtures/celery-5.2/', import.meta.url);
const fixtures = readdirSync(dir)
  .sort()
  .map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as Fixture);
const delivery = (f: Fixture): RawDelivery => ({ content: Buffer.from(f.content, 'base64'), properties: f.properties });
const fixture = (name: string) => fixtures.find((f) => f.name === name)!;

/** Header values as amqplib would decode what we send (typed ints become plain numbers). */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && '!' in v) return (v as { '!': string; value: unknown }).value;
  return v;
}

describe('real Celery 5.2 captures', () => {
  it('are present', () => expect(fixtures.map((f) => f.name)).to.include.members(['task-plain', 'task-options', 'reply-success', 'reply-failure']));

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
        expect(JSON.parse(ours.content.toString())).to.deep.equal(JSON.parse(Buffer.from(f.content, 'base64').toString()));
        const theirs = f.properties.headers;
        expect(Object.keys(ours.properties.headers).sort()).to.deep.equal(Object.keys(theirs).sort());
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
        expect(ours.properties.priority).to.equal(f.properties.priority);
      });
    });
  }

  it('task-options: every option Celery set is read back', () => {
    const d = decodeDelivery(delivery(fixture('task-options')));
    if (!d.ok) throw new Error(d.detail);
    expect(d.message).to.deep.include({ retries: 200, timeLimit: [300, 240], ignoreResult: true, priority: 5 });
    expect(d.message.eta?.toISOString()).to.equal('2030-01-02T03:04:05.678Z');
    expect(d.message.expires?.toISOString()).to.equal('2030-01-02T04:04:05.678Z');
    expect(amqpInt(200)).to.deep.equal({ '!': 'long', value: 200 });
  });

  for (const [name, status, exc] of [
    ['reply-success', 'SUCCESS', null],
    ['reply-failure', 'FAILURE', { type: 'ValueError', message: 'disk on fire', module: 'builtins' }],
    ['reply-revoked', 'REVOKED', { type: 'TaskRevokedError', message: 'expired', module: 'celery.exceptions' }],
  ] as const) {
    it(`${name}: decodes, and re-encodes byte-equivalent to Celery's reply`, () => {
      const f = fixture(name);
      const d = decodeResult(delivery(f));
      if (!d.ok) throw new Error(d.detail);
      expect(d.message.status).to.equal(status);
      if (exc) expect(readException(d.message.result)).to.deep.equal(exc);
      const ours = encodeResult(d.message);
      expect(JSON.parse(ours.content.toString())).to.deep.equal(JSON.parse(Buffer.from(f.content, 'base64').toString()));
      expect(ours.properties).to.include({ contentType: f.properties.contentType, correlationId: f.properties.correlationId });
    });
  }
});
