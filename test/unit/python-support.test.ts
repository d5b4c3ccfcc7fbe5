import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { celeryVersions, vendoredBundle } from '../support/python.js';

// The interop suites' Python side: a clean checkout on CI must get the vendored Celery or a clear reason.
describe('test support: the Celery versions the interop suites run against', () => {
  it('names each version once, with its own fixtures folder', () => {
    expect(new Set(celeryVersions.map((v) => v.name)).size).to.equal(celeryVersions.length);
    expect(new Set(celeryVersions.map((v) => v.fixtures)).size).to.equal(celeryVersions.length);
  });

  it('a missing vendored bundle fails with a message naming it and where it belongs', () => {
    const empty = mkdtempSync(join(tmpdir(), 'taskbus-novendor-'));
    try {
      expect(() => vendoredBundle('celery-5.6.3-py3.tar.gz', empty)).to.throw(`${join(empty, 'celery-5.6.3-py3.tar.gz')} is missing: the interop tests need the vendored Celery bundle next to the project (../shared/vendor/celery-5.6.3-py3.tar.gz)`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
