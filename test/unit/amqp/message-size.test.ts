import { expect } from 'chai';
import { messageSizeLimit } from '../../../runtime/src/amqp/message-size.js';

const closed = (code: number, text: string) => Object.assign(new Error(`Channel closed by server: ${code} (PRECONDITION-FAILED) with message "${text}"`), { code });

describe('messageSizeLimit: the broker max_message_size from the close of a channel', () => {
  it("reads RabbitMQ's refusal of a message over the limit", () => {
    expect(messageSizeLimit(closed(406, 'PRECONDITION_FAILED - message size 2000070 is larger than configured max size 1048576'))).to.equal(1048576);
    expect(messageSizeLimit(closed(406, 'PRECONDITION_FAILED - message size 2000070 is larger than max size 1048576'))).to.equal(1048576);
  });

  it('is null for any other close: another 406, another code with the same words, no error at all', () => {
    expect(messageSizeLimit(closed(406, 'PRECONDITION_FAILED - inequivalent arg durable'))).to.equal(null);
    expect(messageSizeLimit(closed(404, 'message size 2 is larger than configured max size 1'))).to.equal(null);
    expect(messageSizeLimit(null)).to.equal(null);
    expect(messageSizeLimit({ code: 406 })).to.equal(null);
  });
});
