import { expect } from 'chai';
import { classifyConnectError, type ConnectFailure } from '../../runtime/src/connect-failure.js';

/** An error shaped as Node's socket layer or amqplib 0.10 produces it. */
function failure(message: string, code?: string | number): Error {
  return code === undefined ? new Error(message) : Object.assign(new Error(message), { code });
}

const refusedLogin =
  'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."';

const cases: ReadonlyArray<readonly [name: string, given: unknown, want: ConnectFailure]> = [
  // Ports whose digits look like reply codes are still just refused sockets.
  ['refused TCP on port 5303', failure('connect ECONNREFUSED 127.0.0.1:5303', 'ECONNREFUSED'), 'unreachable'],
  ['refused TCP on port 4030', failure('connect ECONNREFUSED 127.0.0.1:4030', 'ECONNREFUSED'), 'unreachable'],
  ['refused TCP on [::1]:5403', failure('connect ECONNREFUSED ::1:5403', 'ECONNREFUSED'), 'unreachable'],
  ['DNS failure', failure('getaddrinfo ENOTFOUND broker-403.invalid', 'ENOTFOUND'), 'unreachable'],
  ['socket timeout', failure('connect ETIMEDOUT 10.0.0.1:5672', 'ETIMEDOUT'), 'unreachable'],
  ["amqplib's own connect timeout (no code)", failure('connect ETIMEDOUT'), 'unreachable'],
  ['reset', failure('read ECONNRESET', 'ECONNRESET'), 'unreachable'],
  ['host unreachable', failure('connect EHOSTUNREACH 10.0.0.1:5672', 'EHOSTUNREACH'), 'unreachable'],
  ['closed during the handshake', failure('Socket closed abruptly during opening handshake'), 'unreachable'],
  ['text that merely mentions ACCESS_REFUSED', failure('proxy said ACCESS_REFUSED 403 530'), 'unreachable'],
  ['not an Error', 'ACCESS_REFUSED 403', 'unreachable'],
  ['handshake 403: login refused', failure(refusedLogin), 'access-refused'],
  ['handshake 530', failure('Handshake terminated by server: 530 (NOT-ALLOWED) with message "NOT_ALLOWED"'), 'access-refused'],
  ['handshake 320: broker shutting down', failure('Handshake terminated by server: 320 (CONNECTION-FORCED) with message "shutdown"'), 'unreachable'],
  ['the handshake form not at the start', failure(`wrapped: ${refusedLogin}`), 'unreachable'],
  ['vhost refused on connection.open (530, code dropped by amqplib)', failure('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'), 'access-refused'],
  ['reply code 403 on the error', failure('Connection closed: 403 (ACCESS-REFUSED)', 403), 'access-refused'],
  ['reply code 530 on the error', failure('Connection closed: 530 (NOT-ALLOWED) with message "vhost x not found"', 530), 'access-refused'],
  ['reply code 320 on the error', failure('Connection closed: 320 (CONNECTION-FORCED)', 320), 'unreachable'],
  ['reply code 501 on the error', failure('Connection closed: 501 (FRAME-ERROR)', 501), 'unreachable'],
  ['untrusted leaf', failure('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'tls'],
  ['self-signed', failure('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), 'tls'],
  ['self-signed in chain', failure('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'), 'tls'],
  ['expired', failure('certificate has expired', 'CERT_HAS_EXPIRED'), 'tls'],
  ['wrong host name', failure("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'), 'tls'],
  ['client certificate required', failure('tlsv13 alert certificate required', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), 'tls'],
  ['TLS to a plain port', failure('wrong version number', 'ERR_SSL_WRONG_VERSION_NUMBER'), 'tls'],
  ['TLS protocol error', failure('write EPROTO', 'EPROTO'), 'tls'],
];

describe('classifying connection failures by code', () => {
  for (const [name, given, want] of cases) {
    it(`${name}: ${want}`, () => {
      expect(classifyConnectError(given)).to.equal(want);
    });
  }
});
