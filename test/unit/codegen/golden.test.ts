import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadContracts, readGenerated, writeGenerated } from '@taskbus/cli/files';
import { diffTree, generate } from '@taskbus/codegen';

// Each test/golden/<case>/ holds contracts/ and the expected/ bindings. UPDATE_GOLDEN=1 rewrites expected/.
const root = new URL('../../golden/', import.meta.url).pathname;
const CLEAN = { missing: [], stale: [], extra: [], conflicts: [], leftAlone: [] };

describe('codegen golden cases', () => {
  for (const name of readdirSync(root).sort()) {
    it(`${name}: generates exactly expected/`, async () => {
      const files = generate(await loadContracts(join(root, name, 'contracts')));
      const out = join(root, name, 'expected');
      if (process.env['UPDATE_GOLDEN'] === '1') await writeGenerated(out, files, diffTree(files, await readGenerated(out)));
      expect(diffTree(files, await readGenerated(out))).to.deep.equal(CLEAN);
    });
  }

  it('is deterministic: the same contracts give byte-identical files', async () => {
    const sources = await loadContracts(join(root, 'kwargs-and-queues', 'contracts'));
    const first = generate(sources);
    const second = generate([...sources].reverse());
    expect([...second]).to.deep.equal([...first]);
  });

  it('generated/ in the repository matches contracts/', async () => {
    const files = generate(await loadContracts('contracts'), { runtimeRange: '^0.1.0' });
    expect(diffTree(files, await readGenerated('generated'))).to.deep.equal(CLEAN);
  });
});
