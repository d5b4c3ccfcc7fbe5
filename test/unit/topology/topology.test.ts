import { expect } from 'chai';
import { delayedRoutingKey, MAX_NATIVE_DELAY_S } from '../../../runtime/src/topology/delayed-delivery.js';
import { inequivalence } from '../../../runtime/src/topology/probe.js';
import { taskExchangeType, taskQueueArguments } from '../../../runtime/src/topology/queue-type.js';

/** A 406 as amqplib reports it, with RabbitMQ 3.10's text. */
const refused = (text: string) => Object.assign(new Error(`Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - ${text}"`), { code: 406 });

describe('topology: pure parts', () => {
  it('delay routing keys are what kombu 5.6 calculate_routing_key gives', () => {
    // Printed by kombu.transport.native_delayed_delivery.calculate_routing_key(n, 'pusher') from the vendored 5.6.3 bundle.
    expect(delayedRoutingKey(1, 'pusher')).to.equal('0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.pusher');
    expect(delayedRoutingKey(600, 'pusher')).to.equal('0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.1.0.1.1.0.0.0.pusher');
    expect(delayedRoutingKey(MAX_NATIVE_DELAY_S, 'pusher')).to.equal(`${Array(28).fill('1').join('.')}.pusher`);
    for (const bad of [0, -1, 1.5, MAX_NATIVE_DELAY_S + 1]) expect(() => delayedRoutingKey(bad, 'q')).to.throw(RangeError);
  });

  it('reads the inequivalent argument and its current value from RabbitMQ refusals', () => {
    expect(inequivalence(refused("inequivalent arg 'x-queue-type' for queue 'pusher' in vhost '/': received none but current is the value 'quorum' of type 'longstr'"))).to.deep.equal({ arg: 'x-queue-type', current: 'quorum' });
    expect(inequivalence(refused("inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received the value 'quorum' of type 'longstr' but current is none"))).to.deep.equal({ arg: 'x-queue-type', current: null });
    expect(inequivalence(refused("inequivalent arg 'type' for exchange 'pusher' in vhost '/': received 'topic' but current is 'direct'"))).to.deep.equal({ arg: 'type', current: 'direct' });
    expect(inequivalence(refused("inequivalent arg 'x-delivery-limit' for queue 'q' in vhost '/': received '5' but current is '10'"))).to.deep.equal({ arg: 'x-delivery-limit', current: '10' });
    expect(inequivalence(Object.assign(new Error('NOT_FOUND'), { code: 404 }))).to.equal(null);
  });

  it('classic task queues keep Celery\'s argument-free declaration and direct exchange; quorum ones dead-letter to <queue>.dlq at least once', () => {
    expect(taskQueueArguments('pusher', 'classic')).to.deep.equal({});
    expect(taskExchangeType('classic')).to.equal('direct');
    expect(taskQueueArguments('pusher', 'quorum')).to.deep.equal({
      'x-queue-type': 'quorum',
      'x-delivery-limit': 20,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'pusher.dlq',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    expect(taskExchangeType('quorum')).to.equal('topic');
  });
});
