import { expect } from 'chai';
import { formatQueues, managementEndpoint, rowsFromCounts, rowsFromManagement } from '../../../cli/src/inspect-queues.js';

describe('taskbus inspect queues (pure parts)', () => {
  describe('managementEndpoint', () => {
    const cases: [string, { amqp: string; base?: string }, { url: string; auth: string | null }][] = [
      ['the AMQP host on 15672, its vhost, its credentials', { amqp: 'amqp://ops:pw@rabbit.local:5672/orders' }, { url: 'http://rabbit.local:15672/api/queues/orders', auth: 'ops:pw' }],
      ['the default vhost is /', { amqp: 'amqp://guest:guest@127.0.0.1' }, { url: 'http://127.0.0.1:15672/api/queues/%2F', auth: 'guest:guest' }],
      ['amqps: https on 15671', { amqp: 'amqps://u:p@secure.example/%2F' }, { url: 'https://secure.example:15671/api/queues/%2F', auth: 'u:p' }],
      ['percent-encoded password and vhost, decoded once', { amqp: 'amqp://u:p%40ss%2Fw@h/v%2Fh' }, { url: 'http://h:15672/api/queues/v%2Fh', auth: 'u:p@ss/w' }],
      ['the first node of a list', { amqp: 'amqp://a:b@n1:5672/x;amqp://a:b@n2:5672/x' }, { url: 'http://n1:15672/api/queues/x', auth: 'a:b' }],
      ['an explicit base keeps its port and path prefix, AMQP credentials', { amqp: 'amqp://u:p@h/v', base: 'http://mgmt:8080/rabbitmq' }, { url: 'http://mgmt:8080/rabbitmq/api/queues/v', auth: 'u:p' }],
      ["an explicit base's own credentials win", { amqp: 'amqp://u:p@h/v', base: 'https://admin:secret@mgmt/' }, { url: 'https://mgmt/api/queues/v', auth: 'admin:secret' }],
      ['no credentials, no header', { amqp: 'amqp://h/v' }, { url: 'http://h:15672/api/queues/v', auth: null }],
    ];
    for (const [name, given, want] of cases) {
      it(name, () => {
        const e = managementEndpoint(given.amqp, given.base);
        const url = new URL(e.url);
        url.search = '';
        expect(url.toString()).to.equal(want.url);
        expect(e.url.searchParams.get('columns')).to.equal('name,messages_ready,messages_unacknowledged,consumers');
        expect(e.authorization && Buffer.from(e.authorization.replace(/^Basic /, ''), 'base64').toString()).to.equal(want.auth);
        expect(e.url.username + e.url.password, 'no credentials in the URL').to.equal('');
      });
    }

    it('rates asked for (taskbus ui): the message_stats rate columns too', () => {
      const e = managementEndpoint('amqp://h/v', undefined, { rates: true });
      expect(e.url.searchParams.get('columns')).to.equal(
        'name,messages_ready,messages_unacknowledged,consumers,message_stats.publish_details.rate,message_stats.deliver_get_details.rate,message_stats.ack_details.rate',
      );
      expect(e.rates).to.equal(true);
      expect(managementEndpoint('amqp://h/v')).to.not.have.property('rates');
    });

    it('a bad --management URL is a usage error that does not echo it', () => {
      expect(() => managementEndpoint('amqp://h', 'http://u:top-secret@[bad')).to.throw(/not a URL/).with.property('message').that.does.not.include('top-secret');
      expect(() => managementEndpoint('amqp://h', 'ftp://mgmt')).to.throw(/http/);
    });
  });

  it('management rows: every queue, DLQs folded into their queue, known but absent queues missing', () => {
    const rows = rowsFromManagement(
      [
        { name: 'pusher', messages_ready: 3, messages_unacknowledged: 2, consumers: 1 },
        { name: 'pusher.dlq', messages_ready: 4, messages_unacknowledged: 0, consumers: 0 },
        { name: 'pusher.retry.1000', messages_ready: 1, messages_unacknowledged: 0, consumers: 0 },
        { name: 'celery', messages_ready: 0, messages_unacknowledged: 0, consumers: 2 },
        { name: 'gone.dlq', messages_ready: 7 },
        { name: 'fresh' },
      ],
      ['pusher', 'resizer'],
    );
    expect(rows).to.deep.equal([
      { queue: 'celery', state: 'ok', ready: 0, unacked: 0, consumers: 2, dlq: null },
      { queue: 'fresh', state: 'ok', ready: null, unacked: null, consumers: null, dlq: null },
      { queue: 'gone', state: 'missing', ready: null, unacked: null, consumers: null, dlq: 7 },
      { queue: 'pusher', state: 'ok', ready: 3, unacked: 2, consumers: 1, dlq: 4 },
      { queue: 'pusher.retry.1000', state: 'ok', ready: 1, unacked: 0, consumers: 0, dlq: null },
      { queue: 'resizer', state: 'missing', ready: null, unacked: null, consumers: null, dlq: null },
    ]);
  });

  it('AMQP rows: the known queues only, unacked unknown', () => {
    const counts = new Map([
      ['a', { state: 'ok', ready: 5, consumers: 1 }],
      ['a.dlq', { state: 'ok', ready: 2, consumers: 0 }],
      ['b', { state: 'missing' }],
      ['b.dlq', { state: 'missing' }],
      ['c', { state: 'refused' }],
    ] as const);
    expect(rowsFromCounts(['b', 'a', 'c', 'a'], counts)).to.deep.equal([
      { queue: 'a', state: 'ok', ready: 5, unacked: null, consumers: 1, dlq: 2 },
      { queue: 'b', state: 'missing', ready: null, unacked: null, consumers: null, dlq: null },
      { queue: 'c', state: 'refused', ready: null, unacked: null, consumers: null, dlq: null },
    ]);
  });

  it('the table: a header, aligned columns, - where unknown, control characters escaped', () => {
    expect(
      formatQueues([
        { queue: 'pusher', state: 'ok', ready: 12, unacked: null, consumers: 2, dlq: 1 },
        { queue: 'evil\u001b[2J', state: 'missing', ready: null, unacked: null, consumers: null, dlq: null },
      ]),
    ).to.deep.equal([
      'QUEUE          STATE    READY  UNACKED  CONSUMERS  DLQ',
      'pusher         ok       12     -        2          1',
      'evil\\u001b[2J  missing  -      -        -          -',
    ]);
  });
});
