/** Help text shared by the program and each command: examples, then the environment and exit codes. */

const ENVIRONMENT = [
  'Environment:',
  '  AMQP_URL           broker URL, or the nodes of a cluster separated by ; (default amqp://guest:guest@127.0.0.1:5672);',
  '                     never printed with its password',
  '  AMQP_TLS_CA        with amqps://: CA certificate file (default: the system CAs)',
  '  AMQP_TLS_CERT      with amqps://: client certificate file',
  '  AMQP_TLS_KEY       with amqps://: client key file',
  '  AMQP_TLS_INSECURE  1 skips certificate and host name checks (never in production)',
];

const EXIT_CODES = [
  'Exit codes:',
  '  0   done',
  '  1   failed: a task failed or timed out, the broker refused, a file already exists, generated/ is stale,',
  '      check found a breaking change or a version lower than the changes need',
  '  2   usage: a bad option or argument, a broken contract, arguments the contract refuses (nothing sent),',
  '      a contract version lower than its changes need (generate writes nothing)',
  '  70  internal error in taskbus (one line, no stack trace): please report it',
];

export function helpText(examples: readonly string[]): string {
  return ['', 'Examples:', ...examples.map((e) => `  $ ${e}`), '', ...ENVIRONMENT, '', ...EXIT_CODES].join('\n');
}
