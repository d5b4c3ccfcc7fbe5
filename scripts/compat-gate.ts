// The breaking-change gate of `npm test` (pretest): `taskbus check --against HEAD~1`, the contracts against
// the previous commit. Skipped, with one line saying why, outside a git checkout and where there is no previous
// commit (a repository of one commit, or a shallow clone of depth 1).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../cli/bin/taskbus.js', import.meta.url));
const git = (...args: string[]) => spawnSync('git', args, { encoding: 'utf8' }).status === 0;

if (!git('rev-parse', '--is-inside-work-tree')) {
  console.log('compat gate skipped: not a git checkout');
} else if (!git('rev-parse', '--verify', '--quiet', 'HEAD~1^{commit}')) {
  console.log('compat gate skipped: no previous commit (HEAD~1) here; a single commit or a shallow clone (fetch with --depth 2 to run it)');
} else {
  process.exitCode = spawnSync(process.execPath, [BIN, 'check', '--against', 'HEAD~1'], { stdio: 'inherit' }).status ?? 1;
}
