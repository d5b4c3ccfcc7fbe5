import { expect } from 'chai';
import { encodeTask, type TaskToEncode } from '../../../runtime/src/celery/encode.js';

const base: TaskToEncode = {
  id: 'b4f3c1f0-0000-4000-8000-000000000001',
  task: 'pusher.send_to_s3',
  args: ['path/to/file.json', '{"a":1}'],
  kwargs: {},
  replyTo: 'reply-uuid',
  origin: 'gen1@host',
  options: {},
};
const now = new Date('2026-11-25T10:00:00.000Z');

describe('celery/encodeTask', () => {
  it('writes the protocol v2 body [args, kwargs, embed]', () => {
    const { content } = encodeTask(base, now);
    expect(JSON.parse(content.toString('utf8'))).to.deep.equal([
      ['path/to/file.json', '{"a":1}'],
      {},
      { callbacks: null, errbacks: null, chain: null, chord: null },
    ]);
  });

  it('sets the properties apply_async(serializer="json") sets', () => {
    const { properties: p } = encodeTask(base, now);
    expect(p).to.include({
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: base.id,
      replyTo: 'reply-uuid',
      persistent: true,
    });
    expect(p).not.to.have.property('expiration');
    expect(p).not.to.have.property('priority');
  });

  it('sets every header Celery 5.2 sends, with defaults', () => {
    const h = encodeTask(base, now).properties.headers;
    expect(h).to.deep.include({
      lang: 'py',
      task: 'pusher.send_to_s3',
      id: base.id,
      shadow: null,
      eta: null,
      expires: null,
      group: null,
      group_index: null,
      retries: { '!': 'long', value: 0 },
      timelimit: [null, null],
      root_id: base.id,
      parent_id: null,
      origin: 'gen1@host',
      ignore_result: false,
    });
    expect(h['argsrepr']).to.equal('["path/to/file.json","{\\"a\\":1}"]');
    expect(h['kwargsrepr']).to.equal('{}');
  });

  const cases: [string, TaskToEncode['options'], Record<string, unknown>, Record<string, unknown>][] = [
    ['countdown becomes an absolute eta with microseconds and offset', { countdown: 30 }, { eta: '2026-11-25T10:00:30.000000+00:00' }, {}],
    ['eta wins over countdown', { countdown: 30, eta: new Date('2026-12-01T00:00:00.5Z') }, { eta: '2026-12-01T00:00:00.500000+00:00' }, {}],
    ['expires in seconds sets the header and the AMQP expiration', { expires: 60 }, { expires: '2026-11-25T10:01:00.000000+00:00' }, { expiration: '60000' }],
    ['an expiry already past is sent as expiration 0', { expires: new Date('2026-11-25T09:00:00Z') }, {}, { expiration: '0' }],
    ['time limits go hard first, typed as 64-bit ints', { timeLimit: 300, softTimeLimit: 240 }, { timelimit: [{ '!': 'long', value: 300 }, { '!': 'long', value: 240 }] }, {}],
    ['fractional time limits are doubles, not truncated to 0 (no limit)', { timeLimit: 1.5, softTimeLimit: 0.25 }, { timelimit: [{ '!': 'double', value: 1.5 }, { '!': 'double', value: 0.25 }] }, {}],
    ['retries in the short-int range are still typed long', { retries: 200 }, { retries: { '!': 'long', value: 200 } }, {}],
    ['ignoreResult and priority', { ignoreResult: true, priority: 7 }, { ignore_result: true }, { priority: 7 }],
  ];
  for (const [name, options, headers, props] of cases) {
    it(name, () => {
      const { properties } = encodeTask({ ...base, options }, now);
      expect(properties.headers).to.deep.include(headers);
      expect(properties).to.deep.include(props);
    });
  }

  it('truncates long reprs but never the body', () => {
    const big = 'x'.repeat(5000);
    const { content, properties } = encodeTask({ ...base, args: [big, big] }, now);
    expect(String(properties.headers['argsrepr'])).to.have.length(256).and.match(/\.\.\.$/);
    expect(JSON.parse(content.toString())[0][0]).to.equal(big);
  });
});
