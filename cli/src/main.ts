import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { assertVersionBumps, diffTree, exportAsyncApi, exportJsonSchemas, generate, isClean, readContract, scaffoldWorker, starterContract } from '@taskbus/codegen';
import { Command } from 'commander';
import { callTask } from './call.js';
import { cacheFile, readCache, writeCache } from './cache.js';
import { dlqCommand } from './dlq.js';
import { UsageError } from './errors.js';
import { asyncApiServer } from './export.js';
import { createFiles, loadContracts, readGenerated, readPreviousBindings, writeFiles, writeGenerated } from './files.js';
import { helpText } from './help.js';
import { addInspectQueues } from './inspect-queues.js';
import { inspectCommand, revokeCommand } from './inspect.js';
import { report } from './report.js';
import { runCheck } from './run-check.js';
import { addUi } from './ui/command.js';

// Bindings depend on the runtime released alongside this CLI, and on the TypeBox range it uses.
const own = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

/** The runtime this CLI runs against: bindings take TypeBox in the range the runtime asks of its peers. */
const runtimePackage = JSON.parse(
  readFileSync(join(dirname(createRequire(import.meta.url).resolve('@taskbus/runtime')), '..', 'package.json'), 'utf8'),
) as { version: string; peerDependencies?: Record<string, string> };

const print = (line: string) => console.log(line);
const warn = (line: string) => console.error(line);

const program = new Command('taskbus')
  .description('Typed Celery-protocol tasks over RabbitMQ: generate bindings, scaffold workers, call tasks, manage dead letters')
  .version(own.version)
  .showHelpAfterError()
  .exitOverride()
  // Options after a command's name are that command's: `inspect queues --json` is queues' --json, not inspect's.
  .enablePositionalOptions()
  .addHelpText(
    'after',
    helpText([
      'taskbus new widget && taskbus generate && taskbus scaffold worker widget',
      'taskbus generate --check',
      "taskbus call pusher.send_to_s3 '[\"items/1.json\", \"{}\"]' --wait",
      'taskbus dlq list pusher',
      'taskbus inspect ping',
      'taskbus ui',
      'taskbus export asyncapi --out asyncapi.json',
    ]),
  );

program
  .command('generate')
  .description('generate bindings packages from contracts')
  .option('--contracts <dir>', 'directory of *.ts contracts', 'contracts')
  .option('--out <dir>', 'directory the <service>-bindings packages go to', 'generated')
  .option('--check', 'write nothing; exit 1 and list the generated files that are stale, missing or extra')
  .option('--no-cache', 'check and generate every contract, even one unchanged since the last run (node_modules/.cache/taskbus)')
  .addHelpText('after', helpText(['taskbus generate', 'taskbus generate --check', 'taskbus generate --contracts api/contracts --out packages']))
  .action(async (opts: { contracts: string; out: string; check?: boolean; cache: boolean }) => {
    const file = opts.cache ? cacheFile(opts.contracts) : null;
    const cache = file ? await readCache(file) : undefined;
    const sources = await loadContracts(opts.contracts, undefined, cache?.check);
    assertVersionBumps(await readPreviousBindings(opts.out, sources, cache?.check), sources);
    const files = generate(
      sources,
      {
        runtimeRange: own.dependencies['@taskbus/runtime']!,
        typeboxRange: runtimePackage.peerDependencies?.['@sinclair/typebox'] ?? own.dependencies['@sinclair/typebox']!,
      },
      cache?.packages,
    );
    // Kept once every contract passed; --check writes nothing at all.
    if (file && cache && !opts.check) await writeCache(file, cache);
    const diff = diffTree(files, await readGenerated(opts.out));
    for (const p of diff.leftAlone) print(`left alone: ${opts.out}/${p} (not written by taskbus)`);
    if (opts.check) {
      if (isClean(diff)) {
        print(`${opts.out} is up to date (${files.size} files)`);
        return;
      }
      for (const kind of ['missing', 'stale', 'extra'] as const) for (const p of diff[kind]) warn(`${kind}: ${opts.out}/${p}`);
      for (const p of diff.conflicts) warn(`conflict: ${opts.out}/${p} (not written by taskbus; generate will not overwrite it)`);
      warn(`${opts.out} is not up to date with ${opts.contracts}; run \`taskbus generate\` and commit the result`);
      process.exitCode = 1;
      return;
    }
    await writeGenerated(opts.out, files, diff);
    for (const p of diff.extra) print(`removed: ${opts.out}/${p} (no longer generated)`);
    const changed = diff.missing.length + diff.stale.length + diff.extra.length;
    print(`generated ${files.size} files in ${opts.out} (${changed} changed)`);
  });

program
  .command('check')
  .description('breaking-change gate: compare the contracts with a git revision or a directory of earlier contracts')
  .option('--contracts <dir>', 'directory of *.ts contracts', 'contracts')
  .requiredOption('--against <ref|dir>', 'git revision (e.g. HEAD~1, main) or directory to compare with')
  .addHelpText('after', helpText(['taskbus check --against HEAD~1', 'taskbus check --against main', 'taskbus check --contracts api/contracts --against ../released/contracts']))
  .action(async (opts: { contracts: string; against: string }) => {
    process.exitCode = await runCheck(opts, print);
  });

program
  .command('new')
  .description('write a starter contract <contracts>/<service>.ts (one task, one version); never overwrites')
  .argument('<service>', 'service name: lower case, digits and dashes, e.g. image-resizer')
  .option('--contracts <dir>', 'directory of *.ts contracts', 'contracts')
  .addHelpText('after', helpText(['taskbus new widget', 'taskbus new image-resizer --contracts api/contracts']))
  .action(async (service: string, opts: { contracts: string }) => {
    const [path] = await createFiles(opts.contracts, new Map([[`${service}.ts`, starterContract(service)]]));
    print(`wrote ${path}; edit its task, then run \`taskbus generate\``);
  });

program
  .command('scaffold')
  .description('write starting points to fill in; never overwrites a file')
  .command('worker')
  .description('write a worker for <service>: handlers.ts (one method per task version, each throwing NotImplementedError) and main.ts (runs it)')
  .argument('<service>', 'a service declared in the contracts')
  .option('--contracts <dir>', 'directory of *.ts contracts', 'contracts')
  .option('--out <dir>', 'directory for handlers.ts and main.ts (default: services/<service>/src)')
  .addHelpText('after', helpText(['taskbus scaffold worker widget', 'taskbus scaffold worker pusher --out workers/pusher/src']))
  .action(async (service: string, opts: { contracts: string; out?: string }) => {
    const models = (await loadContracts(opts.contracts)).map(readContract);
    const model = models.find((m) => m.service === service);
    if (!model) {
      const known = models.map((m) => m.service).join(', ');
      throw new UsageError(`no contract in ${opts.contracts}/ declares service "${service}" (declared: ${known}); write one with \`taskbus new ${service}\``);
    }
    const out = opts.out ?? `services/${service}/src`;
    for (const path of await createFiles(out, scaffoldWorker(model))) print(`wrote ${path}`);
    print(`next: depend on ${service}-bindings and @taskbus/runtime, implement each method in ${out}/handlers.ts, then run main.ts`);
  });

const exporter = program
  .command('export')
  .description('write the contracts in formats other tools read: AsyncAPI 3.0, JSON Schema')
  .addHelpText('after', helpText(['taskbus export asyncapi --out asyncapi.json', 'taskbus export jsonschema --out schemas']));

exporter
  .command('asyncapi')
  .description('write one AsyncAPI 3.0 document (JSON) for all contracts: a channel per queue, a message per task version')
  .option('--contracts <dir>', 'directory of *.ts contracts', 'contracts')
  .option('--out <file>', 'file to write (default: standard output)')
  .addHelpText('after', helpText(['taskbus export asyncapi > asyncapi.json', 'taskbus export asyncapi --out docs/asyncapi.json']))
  .action(async (opts: { contracts: string; out?: string }) => {
    const text = exportAsyncApi(await loadContracts(opts.contracts), { server: asyncApiServer(process.env['AMQP_URL']) });
    if (opts.out === undefined) {
      process.stdout.write(text);
      return;
    }
    await writeFiles(dirname(opts.out), new Map([[basename(opts.out), text]]));
    print(`wrote ${opts.out}`);
  });

exporter
  .command('jsonschema')
  .description("write each task version's argument and result schemas as JSON Schema 2020-12: <out>/<service>/<celery-name>.{args,kwargs,result}.json")
  .option('--contracts <dir>', 'directory of *.ts contracts', 'contracts')
  .requiredOption('--out <dir>', 'directory to write to')
  .addHelpText('after', helpText(['taskbus export jsonschema --out schemas']))
  .action(async (opts: { contracts: string; out: string }) => {
    const files = exportJsonSchemas(await loadContracts(opts.contracts));
    await writeFiles(opts.out, files);
    print(`wrote ${files.size} schemas in ${opts.out}`);
  });

program
  .command('call')
  .description('send a task by name to any Celery-protocol worker (Python or TypeScript), like `celery call`')
  .argument('<task>', 'Celery task name, e.g. pusher.send_to_s3')
  .argument('[args]', 'positional arguments as a JSON array', undefined)
  .option('--kwargs <json>', 'keyword arguments as a JSON object')
  .option('--queue <queue>', "queue to publish to (default: the contract's queue; `celery` for a task no contract declares)")
  .option('--contracts <dir>', 'contracts that declare tasks: their queue and argument checks are used', 'contracts')
  .option('--countdown <seconds>', 'run no earlier than this many seconds from now')
  .option('--expires <seconds>', 'discard unless started within this many seconds')
  .option('--wait', 'wait for the result and print it as JSON')
  .option('--timeout <seconds>', 'with --wait: give up after this many seconds', '30')
  .addHelpText(
    'after',
    helpText([
      "taskbus call pusher.send_to_s3 '[\"items/1.json\", \"{}\"]' --wait --timeout 30",
      "taskbus call pusher.send_to_s3_v2 '[\"k\", \"{}\", {\"contentType\": \"application/json\"}]' --countdown 10",
      "taskbus call legacy.cleanup '[]' --kwargs '{\"dry_run\": true}' --queue legacy",
    ]),
  )
  .action(async function (this: Command, task: string, args: string | undefined, opts: { kwargs?: string; queue?: string; contracts: string; countdown?: string; expires?: string; wait?: boolean; timeout: string }) {
    const { kwargs, queue, contracts, countdown, expires, timeout } = opts;
    const contractsGiven = this.getOptionValueSource('contracts') !== 'default';
    await callTask({ task, args, kwargs, queue, contracts, contractsGiven, countdown, expires, timeout, wait: opts.wait ?? false }, { print, warn });
  });

program
  .command('dlq')
  .description('inspect, replay or purge the dead-letter queue <queue>.dlq')
  .argument('<action>', 'list | show | replay | purge')
  .argument('<queue>', 'the task queue, e.g. pusher')
  .argument('[id]', 'task id (show: required; replay: only this task)')
  .addHelpText('after', helpText(['taskbus dlq list pusher', 'taskbus dlq show pusher <id>', 'taskbus dlq replay pusher', 'taskbus dlq purge pusher']))
  .action(async (action: string, queue: string, id: string | undefined) => {
    await dlqCommand(action, queue, id, print);
  });

const inspect = program
  .command('inspect')
  .description("ask every worker, Python (Celery) or TypeScript, over Celery's remote control; one line per worker; `inspect queues`: the queues and their counts")
  .enablePositionalOptions()
  .argument('<command>', 'ping | registered | active | stats | active_queues | revoked | clock (or queues: see `taskbus inspect queues --help`)')
  .option('--timeout <ms>', 'how long to collect replies', '1000')
  .option('--json', 'one JSON object per worker: {"node": ..., "reply": ...}')
  .option('--destination <nodes>', 'only these workers, comma-separated (e.g. celery@host,taskbus-123@host)')
  .addHelpText('after', helpText(['taskbus inspect ping', 'taskbus inspect registered --json', 'taskbus inspect active --timeout 3000', 'taskbus inspect stats --destination celery@vm']))
  .action(async (command: string, opts: { timeout: string; json?: boolean; destination?: string }) => {
    await inspectCommand(command, opts, print);
  });
// inspect queues (cli/src/inspect-queues.ts): the broker's counts, not a remote-control command.
addInspectQueues(inspect, print);

program
  .command('revoke')
  .description('revoke tasks by id on every worker, like Celery\'s `app.control.revoke`: not yet started, they are not run (REVOKED)')
  .argument('<ids...>', 'task ids')
  .option('--timeout <ms>', 'how long to collect the workers\' acknowledgements', '1000')
  .option('--json', 'one JSON object per worker')
  .option('--destination <nodes>', 'only these workers, comma-separated')
  .addHelpText('after', helpText(['taskbus revoke 6f1c7a52-2d0e-4a5b-9c1e-3f0d2b7a9e11']))
  .action(async (ids: string[], opts: { timeout: string; json?: boolean; destination?: string }) => {
    await revokeCommand(ids, opts, print);
  });

addUi(program, print);

try {
  await program.parseAsync();
} catch (e) {
  process.exitCode = report(e, warn);
}
