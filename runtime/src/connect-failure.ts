/**
 * What kind of failure an error from opening an AMQP connection is, read from error codes and not from
 * message text (a port such as 5303 would otherwise look like reply code 530). Only `unreachable` is
 * worth retrying.
 */
export type ConnectFailure = 'access-refused' | 'tls' | 'unreachable';

/** AMQP reply codes meaning the broker will not let us in: 403 ACCESS_REFUSED (login), 530 NOT_ALLOWED (vhost). */
const REFUSED_REPLY_CODES: ReadonlySet<number> = new Set([403, 530]);

/** Node's certificate verification codes (OpenSSL X509_V_ERR names) and TLS protocol failures. */
const TLS_CODES: ReadonlySet<string> = new Set([
  'EPROTO',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'UNABLE_TO_GET_CRL',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
]);
/** Node's own TLS errors (ERR_TLS_CERT_ALTNAME_INVALID, ...) and OpenSSL's (ERR_SSL_WRONG_VERSION_NUMBER, alerts). */
const TLS_CODE_PREFIXES = ['ERR_TLS_', 'ERR_SSL_'];

/**
 * amqplib 0.10 turns a connection.close received during the handshake into a plain Error without a
 * `code`: "Handshake terminated by server: 403 (ACCESS-REFUSED) with message ..." (connection.js,
 * afterStartOk). This one generated form is parsed, anchored, for its reply code.
 */
const HANDSHAKE_CLOSE = /^Handshake terminated by server: (\d{3}) \([A-Z-]+\)/;
/**
 * A connection.close in reply to connection.open reaches us as only this text, the reply code dropped
 * (connection.js, expect()); RabbitMQ sends it as 530 NOT_ALLOWED when the vhost is missing or not permitted.
 */
const OPEN_REFUSED = 'Expected ConnectionOpenOk; got <ConnectionClose channel:0>';

function fromReplyCode(code: number): ConnectFailure {
  return REFUSED_REPLY_CODES.has(code) ? 'access-refused' : 'unreachable';
}

function fromSocketCode(code: string): ConnectFailure {
  return TLS_CODES.has(code) || TLS_CODE_PREFIXES.some((p) => code.startsWith(p)) ? 'tls' : 'unreachable';
}

/** Anything not known to be fatal (refused socket, DNS, timeout, reset, closed mid-handshake) is `unreachable`. */
export function classifyConnectError(e: unknown): ConnectFailure {
  if (!(e instanceof Error)) return 'unreachable';
  const { code } = e as { code?: unknown };
  if (typeof code === 'number') return fromReplyCode(code);
  if (typeof code === 'string') return fromSocketCode(code);
  const handshake = HANDSHAKE_CLOSE.exec(e.message);
  if (handshake) return fromReplyCode(Number(handshake[1]));
  return e.message === OPEN_REFUSED ? 'access-refused' : 'unreachable';
}
