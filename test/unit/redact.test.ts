import { expect } from 'chai';
import { parseBrokerList, parseBrokerUrl, splitBrokerList } from '../../runtime/src/broker-url.js';
import { redactUrl, redactUrls, scrubSecrets, secretsOf } from '../../runtime/src/redact.js';

describe('redacting credentials from text', () => {
  const cases: ReadonlyArray<readonly [given: string, want: string]> = [
    ['amqp://user:secret@host:5672/v', 'amqp://***@host:5672/v'],
    ['amqp://user:p@ss@host', 'amqp://***@host'],
    ['amqp://user:p@s:s/w#o?r%d@host:5672:bad', 'amqp://***@host:5672:bad'],
    ['amqp://:only-password@host', 'amqp://***@host'],
    ['amqp://user:pa ss wörd@[::1]:5672', 'amqp://***@[::1]:5672'],
    ['amqp://u:p%40ss%zz@host', 'amqp://***@host'],
    ['amqp://u:a://b@host', 'amqp://***@host'],
    ['amqp://host:5672/v', 'amqp://host:5672/v'],
    ['amqp://u:p1@h1;amqp://u:p2@h2,amqps://u:p3@h3', 'amqp://***@h1;amqp://***@h2,amqps://***@h3'],
    ['cannot reach amqp://u:secret@h:1 (ECONNREFUSED)', 'cannot reach amqp://***@h:1 (ECONNREFUSED)'],
    ['amqp://***@host', 'amqp://***@host'],
    // A password that holds what looks like a list separator and another URL is hidden whole.
    ['amqp://guest:se cret,x://tail@127.0.0.1:5672/red', 'amqp://***@127.0.0.1:5672/red'],
    ['amqp://u:abcd;amqp://efgh@host', 'amqp://***@host'],
  ];
  for (const [given, want] of cases) {
    it(`${given} -> ${want}`, () => expect(redactUrls(given)).to.equal(want));
  }

  it('a string without scheme:// loses everything up to its last @', () => {
    expect(redactUrl('user:se@cret@host:5672')).to.equal('***@host:5672');
    expect(redactUrl('amqp:/user:secret@host')).to.equal('***@host');
  });

  it('finds the password raw, percent-decoded and percent-encoded, and scrubs the longest first', () => {
    const secrets = secretsOf('amqp://user:p%40ss w%C3%B6rd@host');
    expect(secrets).to.include.members(['p%40ss w%C3%B6rd', 'p@ss wörd', 'p%40ss%20w%C3%B6rd', 'user:p%40ss w%C3%B6rd']);
    expect(scrubSecrets('login p@ss wörd refused for user:p%40ss w%C3%B6rd', secrets)).to.equal('login *** refused for ***');
    expect(secretsOf('amqp://u:abc@host')).not.to.include('abc'); // too short to scrub without mangling text
  });
});

/** `parse` must throw E_BAD_URL for `reason`, with no credential and no cause (URL errors echo their input). */
function expectBadUrl(parse: () => unknown, reason: RegExp): void {
  let error: unknown;
  try {
    parse();
  } catch (e) {
    error = e;
  }
  expect(error).to.have.property('code', 'E_BAD_URL');
  expect((error as Error).message).to.match(reason).and.not.include('secret');
  expect((error as Error).cause).to.equal(undefined);
}

describe('parsing broker URLs', () => {
  const bad: ReadonlyArray<readonly [url: string, reason: RegExp]> = [
    ['amqp://user:secret@host:5672:bad', /does not parse/],
    ['amqp://user:secret@host:99999', /does not parse/],
    ['amqp://user:secret@host:-1', /does not parse/],
    ['amqp://user:sec%zzret@host:5672', /malformed percent-escape/],
    ['amqp://user:secret@[::1', /does not parse/],
    ['amqp://user:secret@:5672', /does not parse/],
    ['http://user:secret@host', /scheme/],
    ['user:secret@host', /scheme/],
    ['amqp://u:secret1@h1,amqp://u:secret1@h2', /host name/],
    ['amqp://u:12/secret@host', /@ after the host/],
  ];
  for (const [url, reason] of bad) {
    it(`refuses ${url} with E_BAD_URL, redacted`, () => expectBadUrl(() => parseBrokerUrl(url), reason));
  }

  it('accepts a percent-encoded password and shows the URL redacted', () => {
    const parsed = parseBrokerUrl('amqps://user:p%40ss%2Fw@broker.example:5671/prod');
    expect(parsed.url.hostname).to.equal('broker.example');
    expect(decodeURIComponent(parsed.url.password)).to.equal('p@ss/w');
    expect(parsed.display).to.equal('amqps://***@broker.example:5671/prod');
  });
});

describe('parsing a ;-separated list of broker URLs', () => {
  const lists: ReadonlyArray<readonly [given: string, want: readonly string[]]> = [
    ['amqp://u:secret1@h1;amqp://u:secret2@h2:5682/v', ['amqp://***@h1', 'amqp://***@h2:5682/v']],
    ['amqp://h1:5681; amqps://u:secret@h2 ;amqp://h3', ['amqp://h1:5681', 'amqps://***@h2', 'amqp://h3']],
    ['AMQP://h1;AMQPS://h2', ['AMQP://h1', 'AMQPS://h2']],
    ['amqp://u:secret@host', ['amqp://***@host']],
    ['amqp://u:se;cret@h1;amqp://h2', ['amqp://***@h1', 'amqp://h2']],
  ];
  for (const [given, want] of lists) {
    it(`${given} -> ${want.join(' | ')}`, () => expect(parseBrokerList(given).map((b) => b.display)).to.deep.equal(want));
  }

  it('cuts only before a scheme, so ; inside a password stays', () => {
    expect(splitBrokerList('amqp://u:se;cret@h1;amqp://u:x;y@h2')).to.deep.equal(['amqp://u:se;cret@h1', 'amqp://u:x;y@h2']);
  });

  const bad: ReadonlyArray<readonly [url: string, reason: RegExp]> = [
    ['amqp://u:secret1@h1;http://u:secret2@h2', /host name/],
    ['amqp://u:secret1@h1;amqp://u:secret2@h2:99999', /does not parse/],
    ['amqp://u:secret1@h1;amqp://u:sec%zzret2@h2', /percent-escape/],
    ['', /empty entry/],
    // A password holding `;amqp://` (unencoded) stays one URL, as its first part is no URL on its own: never shown in part.
    ['amqp://u:secret;amqp://secret@host', /does not parse/],
  ];
  for (const [url, reason] of bad) {
    it(`refuses ${url || '(empty)'} with E_BAD_URL naming the bad entry, redacted`, () => expectBadUrl(() => parseBrokerList(url), reason));
  }
});
