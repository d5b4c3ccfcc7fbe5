// Wall-clock of `taskbus generate` on many synthetic contracts: the user's command end to end (node start-up,
// loading, type-checking and evaluating the contracts, generating TS + Python bindings, writing them).
//   node --import tsx bench/generate.ts [contracts]
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'cli/bin/taskbus.js');

/** Contract number i: 2-4 tasks of 1-3 versions each, shared object schemas, retries, kwargs, a deprecation. */
export function syntheticContract(i: number): string {
  const service = `svc-${String(i).padStart(3, '0')}`;
  const prefix = `svc${i}`;
  const tasks: string[] = [];
  for (let t = 0; t < 2 + (i % 3); t++) {
    const versions: string[] = [];
    for (let v = 1; v <= 1 + ((i + t) % 3); v++) {
      versions.push(`        ${v}: {
          name: '${prefix}.task${t}${v === 1 ? '' : `_v${v}`}',
          ${v === 1 && t === 0 && i % 4 === 0 ? "deprecated: 'use v2'," : ''}
          args: {
            id: Type.String({ format: 'uuid' }),
            item: Item,
            count: Type.Integer({ minimum: 0, maximum: 1000 }),${v >= 2 ? `
            mode: Type.Union([Type.Literal('fast'), Type.Literal('safe'), Type.Literal('dry-run')]),
            labels: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 20 }),` : ''}${v >= 3 ? `
            meta: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()])),` : ''}
          },
          ${v >= 2 ? 'kwargs: Type.Object({ priority: Type.Optional(Type.Integer()), trace: Type.Optional(Type.Boolean()) }),' : ''}
          result: ${v >= 2 ? 'Type.Object({ outcome: Outcome, items: Type.Array(Item) })' : 'Outcome'},
        },`);
    }
    tasks.push(`    task${t}: {
      description: 'Task ${t} of ${service}.',
      ${t % 2 === 0 ? 'retry: { maxAttempts: 5, initialDelayMs: 1000, maxDelayMs: 60000 },' : ''}
      versions: {
${versions.join('\n')}
      },
    },`);
  }
  const text = `import { Type } from '@sinclair/typebox';

const Item = Type.Object({
  sku: Type.String({ minLength: 1 }),
  quantity: Type.Integer({ minimum: 1 }),
  price: Type.Number(),
  tags: Type.Optional(Type.Array(Type.String())),
});

const Outcome = Type.Object({
  ok: Type.Boolean(),
  message: Type.Optional(Type.String()),
  at: Type.String({ format: 'date-time' }),
});

export default {
  service: '${service}',
  package: '@bench/${service}-bindings',
  license: 'MIT',
  version: '1.${i % 7}.0',
  description: 'Synthetic service ${i} for the generate benchmark.',
  queue: '${service}',
  tasks: {
${tasks.join('\n')}
  },
};
`;
  // The optional fields above leave blank lines where they are absent.
  return text.replace(/\n\s*(?=\n)/g, '');
}

/** Milliseconds of generate runs in a project of `contracts` synthetic contracts (a package.json, so the check cache applies). */
export interface GenerateTimes {
  readonly contracts: number;
  readonly files: number;
  /** The first run: every contract type-checked, every file written. */
  readonly cold: number;
  /** Again with nothing changed: contracts from the cache, nothing written. */
  readonly unchanged: number;
  /** One contract edited: it alone is checked, its package written. */
  readonly oneEdited: number;
}

/** Times `taskbus generate` (the built CLI, a fresh process each run) on `contracts` synthetic contracts. */
export async function measureGenerate(contracts = 200): Promise<GenerateTimes> {
  const dir = await mkdtemp(join(tmpdir(), 'taskbus-bench-generate-'));
  try {
    const input = join(dir, 'contracts');
    await mkdir(input);
    await writeFile(join(dir, 'package.json'), '{ "name": "bench-generate", "private": true }\n');
    for (let i = 0; i < contracts; i++) await writeFile(join(input, `svc-${String(i).padStart(3, '0')}.ts`), syntheticContract(i));
    const cold = await run(dir);
    const unchanged = await run(dir);
    await writeFile(join(input, 'svc-007.ts'), `${syntheticContract(7)}// edited\n`);
    const oneEdited = await run(dir);
    return { contracts, files: cold.files, cold: cold.ms, unchanged: unchanged.ms, oneEdited: oneEdited.ms };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function run(dir: string): Promise<{ ms: number; files: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'generate', '--contracts', 'contracts', '--out', 'out'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const ms = performance.now() - started;
  const files = /generated (\d+) files/.exec(out);
  if (code !== 0 || !files) throw new Error(`taskbus generate exited with ${code}:\n${out}`);
  return { ms: Math.round(ms), files: Number(files[1]) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await measureGenerate(process.argv[2] ? Number(process.argv[2]) : undefined));
}
