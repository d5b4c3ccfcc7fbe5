import { expect } from 'chai';
import { DeprecatedUse } from '../../../runtime/src/worker/pipeline.js';

describe('DeprecatedUse: first use per (task, origin), bounded', () => {
  it('is true once per pair, and forgets the oldest pair past its bound', () => {
    const seen = new DeprecatedUse(2);
    expect([seen.first('t', 'a'), seen.first('t', 'a'), seen.first('t', 'b'), seen.first('u', 'a'), seen.first('t', null)]).to.deep.equal([true, false, true, true, true]);
    // ('t', 'a') and ('t', 'b') were forgotten to stay within 2; ('t', null) is still known.
    expect([seen.first('t', null), seen.first('t', 'a')]).to.deep.equal([false, true]);
  });
});
