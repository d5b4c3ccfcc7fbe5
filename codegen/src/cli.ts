import { readFileSync } from 'node:fs';
import { TaskbusError } from '@taskbus/runtime';
import { Command, CommanderError } from 'commander';
import { callTask } from './call.js';
import { dlqCommand } from './dlq.js';
import { diffTree, isClean } from './check.js';
import { assertVersionBumps } from './compat.js';
import { ContractDefinitionError, ContractSourceError, UsageError, VersionTooLowError } from './errors.js';
import { loadContracts, readGenerated, readPreviousBindings, writeGenerated } from './files.js';
import { runCheck } from './run-check.js';
import { generate } from './generate.js';

// Bindings depend on the runtime released alongside this generator, and on the TypeBox range it uses.
const own = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};
const ownVersion = own.version;

const program = new Command('taskbus')
  .description('Typed Celery-protocol tasks over RabbitMQ')
  .version(ownVersion)
  .showHelpAfterError()
  .exitOverride();

program
  .command('generate')
  .description('generate bindings packages from contracts')
  .option('--contracts <dir>', 'directory of *.ts contracts', 'contracts')
  .option('--out <dir>', 'directory the <service>-bindings packages go to', 'generated')
  .option('--check', 'write nothing; exit 1 and list the generated files that are stale, missing or extra')
  .action(async (opts: { contracts: string; out: string; check?: boolean }) => {
    const sources = await loadContracts(opts.contracts);
    assertVersionBumps(await readPreviousBindings(opts.out), sources);
    const files = generate(sources, {
      runtimeRange: `^${ownVersion}`,
      typeboxRange: own.dependencies['@sinclair/typebox']!,
    });
    const diff = diffTree(files, await readGenerated(opts.out));
    for (const p of diff.leftAlone) console.log(`left alone: ${opts.out}/${p} (not written by taskbus)`);
    if (opts.check) {
      if (isClean(diff)) {
        console.log(`${opts.out} is up to date (${files.size} files)`);
        return;
      }
      for (const kind of ['missing', 'stale', 'extra'] as const) for (const p of diff[kind]) console.error(`${kind}: ${opts.out}/${p}`);
      for (const p of diff.conflicts) console.error(`conflict: ${opts.out}/${p} (not written by taskbus; generate will not overwrite it)`);
      console.error(`${opts.out} is not up to date with ${opts.contracts}; run \`taskbus generate\` and commit the result`);
      process.exitCode = 1;
      return;
    }
    await writeGenerated(opts.out, files, diff);
    for (const p of diff.extra) console.log(`removed: ${opts.out}/${p} (no longer generated)`);
    const changed = diff.missing.length + diff.stale.length + diff.extra.length;
    console.log(`generated ${files.size} files in ${opts.out} (${changed} changed)`);
  });

program
  .command('check')
  .description('breaking-change gate: compare the contracts with a git revision or a directory of earlier contracts')
  .option('--contracts <dir>', 'directory of *.ts contracts', 'contracts')
  .requiredOption('--against <ref|dir>', 'git revision (e.g. HEAD~1, main) or directory to compare with')
  .action(async (opts: { contracts: string; against: string }) => {
    process.exitCode = await runCheck(opts, (line) => console.log(line));
  });

program
  .command('call')
  .description('send a task by name to any Celery-protocol worker (Python or TypeScript), like `celery call`')
  .argument('<task>', 'Celery task name, e.g. pusher.send_to_s3')
  .argument('[args]', 'positional arguments as a JSON array', undefined)
  .option('--kwargs <json>', 'keyword arguments as a JSON object')
  .option('--queue <queue>', 'queue to publish to', 'celery')
  .option('--countdown <seconds>', 'run no earlier than this many seconds from now')
  .option('--expires <seconds>', 'discard unless started within this many seconds')
  .option('--wait', 'wait for the result and print it as JSON')
  .option('--timeout <seconds>', 'with --wait: give up after this many seconds', '30')
  .action(async (task: string, args: string | undefined, opts: { kwargs?: string; queue: string; countdown?: string; expires?: string; wait?: boolean; timeout: string }) => {
    const { kwargs, queue, countdown, expires, timeout } = opts;
    await callTask({ task, args, kwargs, queue, countdown, expires, timeout, wait: opts.wait ?? false }, (line) => console.log(line));
  });

program
  .command('dlq')
  .description('inspect, replay or purge the dead-letter queue <queue>.dlq')
  .argument('<action>', 'list | show | replay | purge')
  .argument('<queue>', 'the task queue, e.g. pusher')
  .argument('[id]', 'task id (show: required; replay: only this task)')
  .action(async (action: string, queue: string, id: string | undefined) => {
    await dlqCommand(action, queue, id, (line) => console.log(line));
  });

try {
  await program.parseAsync();
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode;
  } else if (e instanceof ContractSourceError) {
    // Compiler-style lines (file:line:col: message), so editors and CI annotate them.
    console.error(e.message);
    console.error(`taskbus: ${e.diagnostics.length} problem(s) in the contracts; nothing was generated`);
    process.exitCode = 2;
  } else if (e instanceof ContractDefinitionError || e instanceof UsageError || e instanceof VersionTooLowError) {
    console.error(`taskbus: ${e.message}`);
    process.exitCode = 2;
  } else if (e instanceof TaskbusError) {
    // A failed or timed-out task, or the broker: one line naming what went wrong (remote type included).
    console.error(`taskbus: ${e.message}`);
    process.exitCode = 1;
  } else {
    throw e;
  }
}
