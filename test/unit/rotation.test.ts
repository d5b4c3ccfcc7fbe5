import { expect } from 'chai';
import { BrokerRotation } from '../../runtime/src/rotation.js';

describe('broker rotation', () => {
  it('starts with the first broker and tries each once per round', () => {
    expect(new BrokerRotation(3).round()).to.deep.equal([0, 1, 2]);
    expect(new BrokerRotation(1).round()).to.deep.equal([0]);
  });

  it('after losing a broker, the next round starts with the one after it, and ends with it', () => {
    const r = new BrokerRotation(3);
    r.connected(0);
    r.lost();
    expect(r.round()).to.deep.equal([1, 2, 0]);
    r.connected(2);
    r.lost();
    expect(r.round()).to.deep.equal([0, 1, 2]);
    r.connected(1);
    r.lost();
    expect(r.round()).to.deep.equal([2, 0, 1]);
  });

  it('a failed round changes nothing: the next one tries the same order', () => {
    const r = new BrokerRotation(3);
    r.connected(1);
    r.lost();
    expect(r.round()).to.deep.equal([2, 0, 1]);
    r.lost(); // no connection since: nothing to move past
    expect(r.round()).to.deep.equal([2, 0, 1]);
  });

  it('with one broker, every round is that broker', () => {
    const r = new BrokerRotation(1);
    r.connected(0);
    r.lost();
    expect(r.round()).to.deep.equal([0]);
  });

  it('refuses an empty list', () => {
    expect(() => new BrokerRotation(0)).to.throw(RangeError);
  });
});
