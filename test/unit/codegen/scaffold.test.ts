import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { ContractDefinitionError, evaluateContracts, generate, readContract, scaffoldWorker, starterContract } from '@taskbus/codegen';

async function model(file: string, text: string) {
  const [source] = await evaluateContracts([{ file, text }]);
  return readContract(source!);
}

describe('codegen starterContract', () => {
  for (const service of ['widget', 'image-resizer', 'a1']) {
    it(`"${service}": a contract that type-checks, evaluates and generates`, async () => {
      const text = starterContract(service);
      const sources = await evaluateContracts([{ file: `contracts/${service}.ts`, text }]);
      const files = generate(sources);
      expect(files.has(`${service}-bindings/src/worker.ts`)).to.equal(true);
      const m = readContract(sources[0]!);
      expect(m).to.include({ service, queue: service });
      expect(m.tasks.map((t) => t.versions.map((v) => v.name))).to.deep.equal([[`${service.replaceAll('-', '_')}.hello`]]);
    });
  }

  for (const service of ['Widget', '1widget', 'my_service', 'a--b', '']) {
    it(`refuses the service name "${service}"`, () => {
      expect(() => starterContract(service)).to.throw(ContractDefinitionError, /a service name is lower case, digits and dashes/);
    });
  }
});

describe('codegen scaffoldWorker', () => {
  it('pusher: one typed method per task version with its documentation, each throwing NotImplementedError', async () => {
    const files = scaffoldWorker(await model('contracts/pusher.ts', readFileSync('contracts/pusher.ts', 'utf8')));
    expect([...files.keys()]).to.deep.equal(['handlers.ts', 'main.ts']);
    const handlers = files.get('handlers.ts')!;
    expect(handlers).to.include('export class PusherWorker implements PusherHandlers {');
    expect(handlers).to.include('async sendToS3(key: SendToS3V1Args[0], content: SendToS3V1Args[1], context: TaskContext): Promise<SendToS3V1Result> {');
    expect(handlers).to.include('async sendToS3V2(key: SendToS3V2Args[0], content: SendToS3V2Args[1], meta: SendToS3V2Args[2], context: TaskContext): Promise<SendToS3V2Result> {');
    expect(handlers).to.include("throw new NotImplementedError('pusher.send_to_s3');");
    expect(handlers).to.include("throw new NotImplementedError('pusher.send_to_s3_v2');");
    expect(handlers).to.include('Runs `pusher.send_to_s3_v2` (pusher sendToS3 v2, queue `pusher`).');
    expect(handlers).to.include('As v1, plus the object content type and tags.');
    expect(handlers).to.include('@param key `{"minLength":1,"type":"string"}`');
    expect(handlers).to.include("from 'pusher-bindings';");
    const main = files.get('main.ts')!;
    expect(main).to.include('bindPusherHandlers(worker, new PusherWorker());');
    expect(main).to.include('await runWorker(worker);');
    expect(main).not.to.include('DO NOT EDIT');
  });

  it('kwargs come after the positional arguments, and a schema cannot close the doc comment early', async () => {
    const text = [
      "import { Type } from '@sinclair/typebox';",
      "export default { service: 'svc', version: '1.0.0', queue: 'svc', tasks: { doIt: { versions: { 1: {",
      "  name: 'svc.do_it', args: { p: Type.String({ pattern: 'a*/b' }) }, kwargs: Type.Object({ n: Type.Integer() }), result: Type.Null() } } } } };",
    ].join('\n');
    const handlers = scaffoldWorker(await model('contracts/svc.ts', text)).get('handlers.ts')!;
    expect(handlers).to.include('async doIt(p: DoItV1Args[0], kwargs: DoItV1Kwargs, context: TaskContext): Promise<DoItV1Result> {');
    expect(handlers).to.include('a*\\/b');
    expect(handlers).not.to.include('a*/b');
  });
});
