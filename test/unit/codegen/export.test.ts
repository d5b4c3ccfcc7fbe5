import { Parser } from '@asyncapi/parser';
import { loadContracts } from '@taskbus/cli/files';
import { evaluateContracts, exportAsyncApi, exportJsonSchemas, type ContractSource } from '@taskbus/codegen';
import { taskQueueArguments, type QueueType } from '@taskbus/runtime';
import { Ajv, type AnySchemaObject } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'chai';
import { encodeTask, type TaskToEncode } from '../../../runtime/src/celery/encode.js';

const GOLDEN = 'test/golden/kwargs-and-queues/contracts';
// Our own annotations; a strict validator refuses keywords it does not know.
const KEYWORDS = ['x-arg-names', 'x-taskbus'];

type Doc = {
  channels: Record<string, { address: string | null; messages: Record<string, Message> }>;
  operations: Record<string, { action: string; channel: { $ref: string }; messages: { $ref: string }[]; 'x-deprecated'?: boolean }>;
  servers: Record<string, { host: string; protocol: string }>;
};
type Message = { name: string; deprecated?: boolean; headers: AnySchemaObject; payload: AnySchemaObject };

/** A task as the runtime puts it on the wire: its JSON body and its headers (amqplib's typed ints unwrapped). */
function onTheWire(task: string, args: unknown[], kwargs: Record<string, unknown> = {}): { body: unknown[]; headers: Record<string, unknown> } {
  const t: TaskToEncode = { id: 'b4f3c1f0-0000-4000-8000-000000000001', task, args, kwargs, replyTo: 'reply', origin: 'gen1@host', options: { countdown: 5, timeLimit: 30 } };
  const encoded = encodeTask(t, new Date('2026-01-01T00:00:00Z'));
  const unwrap = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(unwrap) : typeof v === 'object' && v !== null && '!' in v && 'value' in v ? v.value : v;
  const headers = Object.fromEntries(Object.entries(encoded.properties.headers).map(([k, v]) => [k, unwrap(v)]));
  return { body: JSON.parse(encoded.content.toString('utf8')) as unknown[], headers };
}

const QUORUM = 'test/golden/quorum-queues/contracts';

/** [case, contracts, queues, their type, Celery names, the deprecated ones] */
const CASES: [string, string, string[], QueueType, string[], string[]][] = [
  ['contracts/pusher.ts', 'contracts', ['pusher'], 'classic', ['pusher.send_to_s3', 'pusher.send_to_s3_v2'], []],
  ['golden image-resizer.ts', GOLDEN, ['images', 'images.low'], 'classic', ['images.purge', 'images.purge_v2', 'images.resize'], ['images.purge']],
  ['golden ledger.ts (quorum)', QUORUM, ['ledger', 'ledger.batch'], 'quorum', ['ledger.reconcile', 'ledger.record', 'ledger.record_v2'], ['ledger.record']],
];

describe('taskbus export asyncapi (codegen)', () => {
  for (const [name, dir, queues, queueType, tasks, deprecated] of CASES) {
    describe(name, () => {
      let sources: ContractSource[];
      let text: string;
      let doc: Doc;
      before(async () => {
        sources = await loadContracts(dir);
        text = exportAsyncApi(sources);
        doc = JSON.parse(text) as Doc;
      });

      it('is a valid AsyncAPI 3.0 document for @asyncapi/parser (no error diagnostics)', async () => {
        const { document, diagnostics } = await new Parser().parse(text);
        const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join('/')}: ${d.message}`);
        expect(errors).to.deep.equal([]);
        expect(document?.version()).to.equal('3.0.0');
        // The parser's model agrees: a message per task version, by Celery name, on the queue channels.
        const names = document!.allMessages().all().map((m) => m.name()).filter((n) => n !== undefined && !n.endsWith('.result'));
        expect(names.sort()).to.deep.equal(tasks);
      });

      it(`has one channel per queue, addressed by the queue name and bound as taskbus creates it (${queueType}), plus the reply channel`, () => {
        const ids = Object.keys(doc.channels).sort();
        expect(ids).to.deep.equal([...queues.map((q) => `queue.${q}`), 'replies']);
        for (const q of queues) {
          const channel = doc.channels[`queue.${q}`] as unknown as { address: string; bindings: { amqp: Record<string, unknown> } };
          expect(channel.address).to.equal(q);
          // Classic: argument-free, as Celery declares it; quorum: exactly the runtime's arguments.
          const args = queueType === 'classic' ? {} : { 'x-arguments': taskQueueArguments(q, queueType) };
          expect(channel.bindings.amqp).to.deep.include({ is: 'queue', queue: { name: q, durable: true, exclusive: false, autoDelete: false, 'x-queue-type': queueType, ...args } });
          const exchange = queueType === 'classic' ? 'direct' : 'topic';
          expect(channel.bindings.amqp['x-exchange']).to.deep.equal({ name: q, type: exchange, durable: true, autoDelete: false, routingKey: q });
        }
        expect(doc.channels['replies']!.address).to.equal(null);
      });

      it('names the queue type where it names the queue: each message and the service', () => {
        const messages = Object.values(doc.channels).filter((c) => c.address !== null).flatMap((c) => Object.values(c.messages)) as unknown as { 'x-taskbus': { queueType: string } }[];
        expect(new Set(messages.map((m) => m['x-taskbus'].queueType))).to.deep.equal(new Set([queueType]));
        const services = (doc as unknown as { info: { 'x-taskbus-services': Record<string, { queueType: string }> } }).info['x-taskbus-services'];
        expect(Object.values(services).map((v) => v.queueType)).to.deep.equal([queueType]);
      });

      it('has one message per task version named by its Celery name, with a [args, kwargs, embed] payload and the Celery headers', () => {
        const messages = Object.values(doc.channels).filter((c) => c.address !== null).flatMap((c) => Object.values(c.messages));
        expect(messages.map((m) => m.name).sort()).to.deep.equal(tasks);
        for (const m of messages) {
          expect(m.payload).to.include({ type: 'array', minItems: 3, maxItems: 3, additionalItems: false });
          expect(m.payload['items']).to.have.length(3);
          expect(m.headers['required']).to.have.members(['task', 'id']);
          expect(m.headers['properties']['task']).to.deep.equal({ type: 'string', const: m.name });
          expect(Object.keys(m.headers['properties'] as object)).to.include.members(['lang', 'root_id', 'parent_id', 'group', 'retries', 'eta', 'expires', 'timelimit', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result', 'shadow']);
        }
      });

      it('has a send operation per task version on its queue, replying on the reply channel, and a receive for replies', () => {
        const sends = Object.entries(doc.operations).filter(([, o]) => o.action === 'send');
        expect(sends.map(([id]) => id).sort()).to.deep.equal(tasks.map((t) => `send.${t}`));
        for (const [id, op] of sends) {
          const celery = id.slice('send.'.length);
          const channel = Object.entries(doc.channels).find(([, c]) => c.messages[celery])![0];
          expect(op.channel.$ref).to.equal(`#/channels/${channel}`);
          expect(op.messages).to.deep.equal([{ $ref: `#/channels/${channel}/messages/${celery}` }]);
          expect(op['x-deprecated'] ?? false).to.equal(deprecated.includes(celery));
        }
        const receive = doc.operations['receive.replies']!;
        expect(receive.action).to.equal('receive');
        expect(receive.messages.map((m) => m.$ref)).to.deep.equal(tasks.map((t) => `#/channels/replies/messages/${t}.result`));
      });

      it('marks deprecated versions on their messages and only those', () => {
        const all = Object.values(doc.channels).flatMap((c) => Object.values(c.messages));
        expect(all.filter((m) => m.deprecated === true).map((m) => m.name).sort()).to.deep.equal(deprecated.flatMap((d) => [d, `${d}.result`]).sort());
      });

      it('is deterministic: the same contracts, in any order, give the same text', () => {
        expect(exportAsyncApi([...sources].reverse())).to.equal(text);
      });
    });
  }

  it('several contracts: one document naming each service version, the same in any order', async () => {
    const sources = [...(await loadContracts('contracts')), ...(await loadContracts(GOLDEN))];
    const text = exportAsyncApi(sources);
    expect(exportAsyncApi([...sources].reverse())).to.equal(text);
    const info = (JSON.parse(text) as { info: { version: string; 'x-taskbus-services': Record<string, { version: string }> } }).info;
    expect(info.version).to.equal('image-resizer@2.1.0, pusher@1.0.0');
    expect(info['x-taskbus-services']['pusher']).to.include({ version: '1.0.0', package: 'pusher-bindings', queue: 'pusher' });
    expect(info['x-taskbus-services']['image-resizer']).to.include({ version: '2.1.0', queue: 'images' });
    const { diagnostics } = await new Parser().parse(text);
    expect(diagnostics.filter((d) => d.severity === 0)).to.deep.equal([]);
  });

  it("names the broker by AMQP_URL's host, never its password, and refuses unknown options", async () => {
    const sources = await loadContracts('contracts');
    const doc = JSON.parse(exportAsyncApi(sources, { server: { protocol: 'amqps', host: 'rabbit.example:5671', pathname: '/prod' } })) as Doc;
    expect(doc.servers).to.deep.equal({ broker: { protocol: 'amqps', host: 'rabbit.example:5671', pathname: '/prod', description: 'RabbitMQ' } });
    expect((JSON.parse(exportAsyncApi(sources)) as Doc).servers['broker']).to.include({ protocol: 'amqp', host: 'localhost:5672' });
    expect(() => exportAsyncApi(sources, { server: { protocol: 'amqp', host: 'bob:secret@rabbit:5672' } })).to.throw(TypeError, /without credentials/);
    expect(() => exportAsyncApi(sources, { servers: [] } as never)).to.throw(TypeError, /unknown exportAsyncApi option "servers"/);
  });

  describe('validates what the runtime sends', () => {
    let pusher: Doc;
    let images: Doc;
    before(async () => {
      pusher = JSON.parse(exportAsyncApi(await loadContracts('contracts'))) as Doc;
      images = JSON.parse(exportAsyncApi(await loadContracts(GOLDEN))) as Doc;
    });
    const ajv = new Ajv({ keywords: KEYWORDS, formats: { 'date-time': true } });

    it('a message payload and headers accept an encoded Celery body and refuse a wrong one', () => {
      const m = pusher.channels['queue.pusher']!.messages['pusher.send_to_s3_v2']!;
      const payload = ajv.compile(m.payload);
      const headers = ajv.compile(m.headers);
      const good = onTheWire('pusher.send_to_s3_v2', ['items/1.json', '{}', { contentType: 'application/json', tags: { a: 'b' } }]);
      expect(payload(good.body), ajv.errorsText(payload.errors)).to.equal(true);
      expect(headers(good.headers), ajv.errorsText(headers.errors)).to.equal(true);
      // v1's arguments for v2, an empty key, a number for a string, an unknown kwarg.
      for (const [args, kwargs] of [[['k', '{}'], {}], [['', '{}', {}], {}], [['k', 5, {}], {}], [['k', '{}', {}], { extra: 1 }]] as const) {
        expect(payload(onTheWire('pusher.send_to_s3_v2', [...args], kwargs).body), JSON.stringify(args)).to.equal(false);
      }
      expect(headers(onTheWire('pusher.send_to_s3', ['k', '{}']).headers)).to.equal(false);
    });

    it("kwargs follow the contract: declared ones checked, a version without kwargs takes {}", () => {
      const resize = ajv.compile(images.channels['queue.images']!.messages['images.resize']!.payload);
      expect(resize(onTheWire('images.resize', ['http://x/a.png', 100], { quality: 80 }).body), ajv.errorsText(resize.errors)).to.equal(true);
      expect(resize(onTheWire('images.resize', ['http://x/a.png', 100], { quality: 0 }).body)).to.equal(false);
      const purge = ajv.compile(images.channels['queue.images.low']!.messages['images.purge']!.payload);
      expect(purge(onTheWire('images.purge', []).body), ajv.errorsText(purge.errors)).to.equal(true);
      expect(purge(onTheWire('images.purge', ['x']).body)).to.equal(false);
    });

    it('the reply message carries the result schema on SUCCESS and an exception on FAILURE', () => {
      const reply = ajv.compile(pusher.channels['replies']!.messages['pusher.send_to_s3.result']!.payload);
      const stored = { bucket: 'b', key: 'k', etag: 'e' };
      const of = (status: string, result: unknown) => ({ task_id: 'id', status, result, traceback: null, children: [] });
      expect(reply(of('SUCCESS', stored)), ajv.errorsText(reply.errors)).to.equal(true);
      expect(reply(of('SUCCESS', { bucket: 'b' }))).to.equal(false);
      expect(reply(of('FAILURE', { exc_type: 'ValueError', exc_message: ['no'], exc_module: 'builtins' }))).to.equal(true);
      expect(reply(of('FAILURE', stored))).to.equal(false);
    });
  });
});

describe('taskbus export jsonschema (codegen)', () => {
  let files: ReadonlyMap<string, string>;
  before(async () => {
    files = exportJsonSchemas([...(await loadContracts('contracts')), ...(await loadContracts(GOLDEN))]);
  });
  const schema = (path: string) => JSON.parse(files.get(path)!) as AnySchemaObject;
  const ajv = new Ajv2020({ keywords: KEYWORDS });

  it('writes args and result per version, kwargs only where declared, each draft 2020-12 with an $id', () => {
    expect([...files.keys()].sort()).to.deep.equal([
      'image-resizer/images.purge.args.json',
      'image-resizer/images.purge.result.json',
      'image-resizer/images.purge_v2.args.json',
      'image-resizer/images.purge_v2.result.json',
      'image-resizer/images.resize.args.json',
      'image-resizer/images.resize.kwargs.json',
      'image-resizer/images.resize.result.json',
      'pusher/pusher.send_to_s3.args.json',
      'pusher/pusher.send_to_s3.result.json',
      'pusher/pusher.send_to_s3_v2.args.json',
      'pusher/pusher.send_to_s3_v2.result.json',
    ]);
    for (const [path, text] of files) {
      const s = JSON.parse(text) as AnySchemaObject;
      expect(s['$schema'], path).to.equal('https://json-schema.org/draft/2020-12/schema');
      expect(s['$id'], path).to.equal(`urn:taskbus:${path.replace('/', ':').replace(/\.(args|kwargs|result)\.json$/, ':$1')}`);
      // Sorted keys all the way down, so the files diff cleanly.
      expect(text).to.equal(JSON.stringify(JSON.parse(text), (_, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v), 2) + '\n');
    }
    const args = schema('pusher/pusher.send_to_s3_v2.args.json');
    expect(args['x-arg-names']).to.deep.equal(['key', 'content', 'meta']);
    expect((args['prefixItems'] as AnySchemaObject[]).map((i) => i['title'])).to.deep.equal(['key', 'content', 'meta']);
    expect(args).to.include({ items: false, minItems: 3, maxItems: 3 });
    expect(schema('image-resizer/images.purge.args.json')).to.include({ deprecated: true });
  });

  it("the args schema accepts the args of an encoded Celery body and refuses wrong ones; kwargs and result likewise", () => {
    const args = ajv.compile(schema('pusher/pusher.send_to_s3.args.json'));
    const body = onTheWire('pusher.send_to_s3', ['items/1.json', '{"a":1}']).body;
    expect(args(body[0]), ajv.errorsText(args.errors)).to.equal(true);
    for (const wrong of [['items/1.json'], ['', 'x'], ['k', 1], ['k', 'c', 'extra']]) expect(args(onTheWire('pusher.send_to_s3', wrong).body[0]), JSON.stringify(wrong)).to.equal(false);
    const kwargs = ajv.compile(schema('image-resizer/images.resize.kwargs.json'));
    expect(kwargs(onTheWire('images.resize', ['u', 1], { quality: 100 }).body[1])).to.equal(true);
    expect(kwargs({ quality: 101 })).to.equal(false);
    expect(kwargs({ size: 1 })).to.equal(false);
    const result = ajv.compile(schema('image-resizer/images.purge_v2.result.json'));
    expect([result(3), result('3')]).to.deep.equal([true, false]);
  });

  it("writes a tuple inside an argument (TypeBox's draft-07 items array) as 2020-12 prefixItems", async () => {
    const text = [
      "import { Type } from '@sinclair/typebox';",
      "export default { service: 'geo', version: '1.0.0', queue: 'geo', tasks: { locate: { versions: { 1: {",
      "  name: 'geo.locate', args: { point: Type.Tuple([Type.Number(), Type.Number()]) }, result: Type.Tuple([Type.String()]) } } } } };",
    ].join('\n');
    const out = exportJsonSchemas(await evaluateContracts([{ file: 'geo.ts', text }]));
    const args = ajv.compile(JSON.parse(out.get('geo/geo.locate.args.json')!) as AnySchemaObject);
    expect([args([[1, 2]]), args([[1, 'x']]), args([[1, 2, 3]])]).to.deep.equal([true, false, false]);
    const result = ajv.compile(JSON.parse(out.get('geo/geo.locate.result.json')!) as AnySchemaObject);
    expect([result(['a']), result(['a', 'b'])]).to.deep.equal([true, false]);
  });

  it("names each version's queue and its type", async () => {
    expect(schema('pusher/pusher.send_to_s3.args.json')['x-taskbus']).to.deep.equal({ service: 'pusher', task: 'sendToS3', version: 1, queue: 'pusher', queueType: 'classic' });
    const quorum = exportJsonSchemas(await loadContracts(QUORUM));
    const reconcile = JSON.parse(quorum.get('ledger/ledger.reconcile.result.json')!) as AnySchemaObject;
    expect(reconcile['x-taskbus']).to.deep.equal({ service: 'ledger', task: 'reconcile', version: 1, queue: 'ledger.batch', queueType: 'quorum' });
  });

  it('is deterministic: the same contracts, in any order, give byte-identical files', async () => {
    const again = exportJsonSchemas([...(await loadContracts(GOLDEN)), ...(await loadContracts('contracts'))]);
    expect([...again].sort()).to.deep.equal([...files].sort());
  });
});
