import { expect } from 'chai';
import { decodeDelivery, type RawDelivery } from '../../../runtime/src/celery/decode.js';
import { encodeTask } from '../../../runtime/src/celery/encode.js';
import { naiveMerge, pollutes, protoKeys } from '../../support/pollution.js';

const EMBED = { callbacks: null, errbacks: null, chain: null, chord: null };

function delivery(body: string | Buffer, headers: Record<string, unknown> = { task: 't.x', id: 'id-1' }, contentType = 'application/json'): RawDelivery {
  return { content: Buffer.isBuffer(body) ? body : Buffer.from(body), properties: { contentType, contentEncoding: 'utf-8', headers } };
}

describe('celery/decodeDelivery', () => {
  it('reads what encodeTask writes (round trip)', () => {
    const e = encodeTask({ id: 'id-9', task: 'pusher.send_to_s3', args: ['k', 'c'], kwargs: { a: 1 }, replyTo: 'r', origin: 'o', options: { retries: 3, countdown: 10 } });
    // amqplib unwraps typed values on the way in; do the same here.
    const headers = Object.fromEntries(Object.entries(e.properties.headers).map(([k, v]) => [k, unwrap(v)]));
    const d = decodeDelivery({ content: e.content, properties: { ...e.properties, headers } });
    expect(d.ok).to.equal(true);
    if (!d.ok) return;
    expect(d.message).to.include({ id: 'id-9', task: 'pusher.send_to_s3', retries: 3, replyTo: 'r', correlationId: 'id-9' });
    expect(d.message.args).to.deep.equal(['k', 'c']);
    expect(d.message.kwargs).to.deep.equal({ a: 1 });
    expect(d.message.eta).to.be.instanceOf(Date);
  });

  it('reads a message as Python Celery 5.2 writes it (naive eta is UTC, microseconds)', () => {
    const d = decodeDelivery(
      delivery(JSON.stringify([['a'], {}, EMBED]), {
        lang: 'py', task: 'pusher.send_to_s3', id: 'x', shadow: null, eta: '2026-11-25T10:00:00.123456', expires: null,
        group: null, group_index: null, retries: 0, timelimit: [null, null], root_id: 'x', parent_id: null,
        argsrepr: "('a',)", kwargsrepr: '{}', origin: 'gen1@py', ignore_result: false,
      }),
    );
    expect(d.ok).to.equal(true);
    if (d.ok) expect(d.message.eta?.toISOString()).to.equal('2026-11-25T10:00:00.123Z');
  });

  it("unwraps kombu >= 5.3's __type__/__value__ wrappers and ignores unknown headers", () => {
    const uuid = { __type__: 'uuid', __value__: { hex: '12345678123456781234567812345678' } }; // kombu 5.6's shape
    const unknown = { __type__: 'frozenset', __value__: [1] }; // not a kombu type: left as kombu leaves it
    const body = [[{ __type__: 'datetime', __value__: '2026-01-01T00:00:00' }, uuid, unknown], {}, EMBED];
    const d = decodeDelivery(delivery(JSON.stringify(body), { task: 't', id: 'i', stamped_headers: null, stamps: {}, replaced_task_nesting: 0 }));
    expect(d.ok && d.message.args).to.deep.equal(['2026-01-01T00:00:00', '12345678-1234-5678-1234-567812345678', unknown]);
  });

  it('reads Celery 5.3+ stamps, own keys only (a __proto__ key amqplib assigned is not an entry)', () => {
    const stamps: Record<string, unknown> = { tenant: 'acme' };
    stamps['__proto__'] = { polluted: true }; // what amqplib's table decoder does with such a key
    const d = decodeDelivery(delivery(JSON.stringify([[], {}, EMBED]), { task: 't', id: 'i', stamped_headers: ['tenant'], stamps }));
    if (!d.ok) throw new Error(d.detail);
    expect(d.message.stamps).to.deep.equal({ tenant: 'acme' });
    expect('polluted' in d.message.stamps).to.equal(false);
    const none = decodeDelivery(delivery('[[], {}]'));
    expect(none.ok && none.message.stamps).to.deep.equal({});
  });

  it('accepts a two-element body (no embed)', () => {
    expect(decodeDelivery(delivery('[[1], {}]')).ok).to.equal(true);
  });

  const refusals: [string, RawDelivery, string][] = [
    ['pickle bytes labelled as JSON', delivery(Buffer.from([0x80, 0x04, 0x95])), 'undecodable'],
    ['declared pickle', delivery('[[],{},{}]', undefined, 'application/x-python-serialize'), 'unsupported-content-type'],
    ['yaml', delivery('- []', undefined, 'application/x-yaml'), 'unsupported-content-type'],
    ['no content type', { content: Buffer.from('[[],{}]'), properties: { headers: { task: 't', id: 'i' } } }, 'unsupported-content-type'],
    ['truncated JSON', delivery('[["a"], {'), 'undecodable'],
    ['empty body', delivery(''), 'undecodable'],
    ['invalid UTF-8', delivery(Buffer.from([0x5b, 0xff, 0xfe, 0x5d])), 'undecodable'],
    ['missing task header', delivery('[[],{},{}]', { id: 'i' }), 'missing-header'],
    ['missing id header', delivery('[[],{},{}]', { task: 't' }), 'missing-header'],
    ['protocol v1 body', delivery('{"task": "t", "id": "i", "args": [], "kwargs": {}}', {}), 'unsupported-protocol'],
    ['body not an array', delivery('{"a": 1}'), 'malformed-body'],
    ['args not an array', delivery('["a", {}, {}]'), 'malformed-body'],
    ['kwargs not an object', delivery('[[], [], {}]'), 'malformed-body'],
    ['unreadable eta', delivery('[[],{},{}]', { task: 't', id: 'i', eta: 'tomorrow' }), 'malformed-header'],
    ['negative retries', delivery('[[],{},{}]', { task: 't', id: 'i', retries: -1 }), 'malformed-header'],
  ];
  for (const [name, d, reason] of refusals) {
    it(`refuses ${name}: ${reason}`, () => {
      const r = decodeDelivery(d);
      expect(r.ok).to.equal(false);
      if (!r.ok) {
        expect(r.reason).to.equal(reason);
        expect(r.detail).to.be.a('string').and.not.equal('');
      }
    });
  }

  // JSON.parse never pollutes by itself; what it hands on can, once merged. So: refused, and nothing
  // handed on that a merge could turn into pollution.
  const pollution: [string, string][] = [
    ['__proto__ in args', '[[{"__proto__": {"polluted": 1}}], {}, {}]'],
    ['__proto__ in kwargs', '[[], {"__proto__": {"polluted": 1}}, {}]'],
    ['__proto__ nested deep', '[[{"a": [{"b": {"__proto__": {"polluted": 1}}}]}], {}, {}]'],
    ['__proto__ spelt with \\u escapes', '[[], {"\\u005f\\u005fproto\\u005f\\u005f": {"polluted": 1}}, {}]'],
    ['constructor.prototype', '[[], {"constructor": {"prototype": {"polluted": 1}}}, {}]'],
  ];
  for (const [name, body] of pollution) {
    it(`refuses ${name} and hands on nothing a later merge could pollute Object.prototype with`, () => {
      const r = decodeDelivery(delivery(body));
      const handedOn = r.ok ? [r.message.args, r.message.kwargs] : [];
      expect(protoKeys(handedOn), 'own __proto__ keys handed on').to.deep.equal([]);
      expect(pollutes('polluted', () => handedOn.forEach((v) => naiveMerge({}, v))), 'a deep merge polluted Object.prototype').to.equal(false);
      const assigned = handedOn.flat().map((v) => Object.assign({}, v) as Record<string, unknown>);
      expect(assigned.filter((o) => o['polluted'] !== undefined), 'Object.assign gave a polluted prototype').to.deep.equal([]);
      expect(r).to.deep.include({ ok: false, reason: 'forbidden-key' });
    });
  }
});

function unwrap(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === 'object' && '!' in v) return (v as { '!': string; value: unknown }).value;
  return v;
}
