import { join } from 'node:path';
import { expect } from 'chai';
import { runProcess } from '../support/process.js';
import { celeryVersions, PYTHON, pythonEnv } from '../support/python.js';

// The golden case's generated Python bindings: images.purge (v1 of purge) is deprecated, the rest is not.
const BINDINGS = join(process.cwd(), 'test/golden/kwargs-and-queues/expected/image-resizer-bindings/python');

// Fails the run unless the interpreter imports the Celery the describe block names.
const VERSION_CHECK = `import celery, os, re, sys
if not re.fullmatch(os.environ['CELERY_EXPECT'], celery.__version__): sys.exit('celery ' + celery.__version__)
`;

// Sends through kombu's in-memory transport, so no broker is needed. With -W error::DeprecationWarning for the
// caller's module (kombu 5.2 itself warns on import), a deprecated send raises because the warning points at the
// caller; every other send must go through. The last case records where the warning points.
const SCRIPT = `
import warnings
from celery import Celery
app = Celery('t', broker='memory://')
app.set_default()
import image_resizer_bindings as b

def outcome(send):
    try:
        send()
        return 'sent'
    except DeprecationWarning as e:
        return 'DeprecationWarning: %s' % e

print('v2 apply_async:', outcome(lambda: b.purge_v2.apply_async(('p',), queue='images.low')))
print('v2 delegate:', outcome(lambda: b.delegate_purge(2, 'p')))
print('resize delay:', outcome(lambda: b.resize.delay('u', 10)))
print('v1 apply_async:', outcome(lambda: b.purge.apply_async((), queue='images.low')))
print('v1 delay:', outcome(lambda: b.purge.delay()))
print('v1 delegate:', outcome(lambda: b.delegate_purge(1)))
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter('always')
    b.delegate_purge(1)  # the caller's line
print('points at:', seen[0].filename, seen[0].lineno)
`;

for (const celery of celeryVersions) describe(`Python bindings: a deprecated version warns (real ${celery.name})`, () => {
  it('raises DeprecationWarning under -W error for the deprecated version only, pointing at the caller', async () => {
    const run = await runProcess(PYTHON, ['-W', 'error::DeprecationWarning:__main__', '-c', `${VERSION_CHECK}${SCRIPT}`], { env: { ...pythonEnv(celery, [BINDINGS]), CELERY_EXPECT: celery.expect.source } });
    expect(run.code, run.stderr).to.equal(0);
    const warning = 'DeprecationWarning: images.purge is deprecated: use v2, which takes a prefix';
    expect(run.stdout.trim().split('\n')).to.deep.equal([
      'v2 apply_async: sent',
      'v2 delegate: sent',
      'resize delay: sent',
      `v1 apply_async: ${warning}`,
      `v1 delay: ${warning}`,
      `v1 delegate: ${warning}`,
      `points at: <string> ${`${VERSION_CHECK}${SCRIPT}`.split('\n').findIndex((l) => l.endsWith("# the caller's line")) + 1}`,
    ]);
  });
});
