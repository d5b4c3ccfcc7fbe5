/** Where the runtime reports what happens; pass your own to route lines into your logging stack. */
export interface Logger {
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

type Level = keyof Logger;

function line(level: Level, name: string, message: string, fields?: Readonly<Record<string, unknown>>): string {
  const rest = fields
    ? Object.entries(fields)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
        .join(' ')
    : '';
  return `[${name}] ${level.toUpperCase()} ${message}${rest ? ' ' + rest : ''}\n`;
}

const RANK: Record<Level, number> = { info: 0, warn: 1, error: 2 };

/** Plain one-line-per-event logger writing to stderr; `minLevel: 'warn'` drops the per-task lines. */
export function createStderrLogger(name = 'taskbus', minLevel: Level = 'info'): Logger {
  const write = (level: Level) =>
    RANK[level] < RANK[minLevel]
      ? () => undefined
      : (message: string, fields?: Readonly<Record<string, unknown>>) => {
          process.stderr.write(line(level, name, message, fields));
        };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

/** Logger that drops everything (tests, embedding). */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
