import { expect } from 'chai';
import { createLogger, LogConfigError, loggerFromEnv, type LoggerOptions } from '../../runtime/src/logger.js';
import { cleanValue, formatJson, formatText, type LogRecord } from '../../runtime/src/log-format.js';
import { secretsOf } from '../../runtime/src/redact.js';

const time = new Date('2026-11-30T03:00:00.000Z');
const record = (fields?: Record<string, unknown>, message = 'task succeeded'): LogRecord => ({ time, level: 'info', name: 'taskbus-worker', message, fields });

/** A logger whose lines are kept. */
function capture(options: LoggerOptions = {}): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger({ ...options, write: (l) => void lines.push(l) }) };
}

describe('logs', () => {
  it('writes control characters from hostile headers escaped: no terminal escape, no forged line, the same JSON', () => {
    const hostile = { task: 'evil\u009b2J\nFAKE LINE\u007f', id: 'a\u2028b' };
    const record: LogRecord = { time: new Date(0), level: 'warn', name: 'w', message: 'task failed', fields: hostile };
    for (const line of [formatJson(record, []), formatText(record, [])]) {
      expect(line.slice(0, -1), line).to.not.match(/[\n\u007f-\u009f\u2028\u2029]/);
      expect(line.endsWith('\n')).to.equal(true);
    }
    expect(JSON.parse(formatJson(record, []))).to.include(hostile);
    expect(formatText(record, [])).to.equal('[w] WARN task failed task="evil\\u009b2J\\nFAKE LINE\\u007f" id="a\\u2028b"\n');
  });

  describe('formats', () => {
    it('text: [name] LEVEL message key=value, strings quoted, objects as JSON', () => {
      expect(formatText(record({ task: 'pusher.send_to_s3', id: 'a1', ms: 3, meta: { n: 1 } }), [])).to.equal(
        '[taskbus-worker] INFO task succeeded task="pusher.send_to_s3" id="a1" ms=3 meta={"n":1}\n',
      );
    });

    it('json: one object per line, time, level, logger and message first, fields beside them', () => {
      const line = formatJson(record({ task: 'pusher.send_to_s3', id: 'a1', ms: 3 }), []);
      expect(line.endsWith('\n')).to.equal(true);
      expect(line.split('\n')).to.have.length(2);
      expect(JSON.parse(line)).to.deep.equal({ time: '2026-11-30T03:00:00.000Z', level: 'info', logger: 'taskbus-worker', message: 'task succeeded', task: 'pusher.send_to_s3', id: 'a1', ms: 3 });
    });

    it('json: a field named like a line key keeps both, the field with a leading underscore', () => {
      expect(JSON.parse(formatJson(record({ message: 'mine', level: 7 }), []))).to.include({ message: 'task succeeded', _message: 'mine', level: 'info', _level: 7 });
    });

    it('json: a newline in a message or field stays inside its line', () => {
      const line = formatJson(record({ error: 'two\nlines' }, 'bad\nmessage'), []);
      expect(line.trimEnd().split('\n')).to.have.length(1);
      expect(JSON.parse(line)).to.include({ message: 'bad\nmessage', error: 'two\nlines' });
    });

    it('odd values: errors, bigints, cycles, buffers, dates, undefined, NaN', () => {
      const cycle: Record<string, unknown> = { a: 1 };
      cycle['self'] = cycle;
      const err = Object.assign(new TypeError('boom'), { code: 'E_X' });
      expect(cleanValue({ err, big: 10n, cycle, buf: Buffer.alloc(3), at: time, none: undefined, nan: NaN }, [])).to.deep.equal({
        err: { name: 'TypeError', message: 'boom', code: 'E_X' },
        big: '10',
        cycle: { a: 1, self: '[circular]' },
        buf: '<3 bytes>',
        at: '2026-11-30T03:00:00.000Z',
        none: null,
        nan: 'NaN',
      });
    });
  });

  describe('redaction', () => {
    const url = 'amqp://svc:s3cr%40t-pw@broker.example:5672/prod';
    const secrets = secretsOf(url);
    const leaks = (text: string) => ['s3cr%40t-pw', 's3cr@t-pw', 'svc:'].filter((s) => text.includes(s));
    const cases: [string, Record<string, unknown> | undefined, string][] = [
      ['a URL in the message', undefined, `cannot reach ${url}`],
      ['a URL in a field', { broker: url }, 'x'],
      ['a URL nested in objects and arrays', { a: { b: [{ c: `at ${url} now` }] } }, 'x'],
      ['a URL in an error message', { error: new Error(`connect ${url} failed`) }, 'x'],
      ['the decoded password alone, in an error', { error: new Error('login with password s3cr@t-pw refused') }, 'x'],
      ['the password alone in the message', undefined, 'password s3cr%40t-pw refused'],
      ['a field named like a secret', { password: 'whatever', apiKey: 'k', authorization: 'Basic x' }, 'x'],
    ];
    for (const [name, fields, message] of cases) {
      for (const format of ['text', 'json'] as const) {
        it(`${name} (${format})`, () => {
          const { lines, log } = capture({ format, secrets });
          log.error(message, fields);
          expect(lines).to.have.length(1);
          expect(leaks(lines[0]!)).to.deep.equal([]);
          expect(lines[0]).not.to.match(/whatever|Basic x/);
          if (format === 'json') JSON.parse(lines[0]!);
        });
      }
    }

    it('URL credentials go without being listed as secrets; the host stays readable', () => {
      const { lines, log } = capture({ format: 'json' });
      log.warn('lost', { broker: 'amqps://u:pw-xyz@node1:5671' });
      expect(JSON.parse(lines[0]!)).to.include({ broker: 'amqps://***@node1:5671' });
    });
  });

  describe('levels', () => {
    it('drops lines below the level, debug included', () => {
      const { lines, log } = capture({ level: 'warn' });
      log.debug?.('d');
      log.info('i');
      log.warn('w');
      log.error('e');
      expect(lines.map((l) => l.split(' ')[1])).to.deep.equal(['WARN', 'ERROR']);
      const all = capture({ level: 'debug' });
      all.log.debug?.('d');
      expect(all.lines).to.have.length(1);
    });

    it('context() adds fields to every line (the trace id hook); the call\'s own fields win', () => {
      const { lines, log } = capture({ format: 'json', context: () => ({ trace_id: 't1', id: 'ctx' }) });
      log.info('task succeeded', { id: 'a1' });
      expect(JSON.parse(lines[0]!)).to.include({ trace_id: 't1', id: 'a1' });
    });
  });

  describe('loggerFromEnv', () => {
    const lines: string[] = [];
    const write = (l: string) => void lines.push(l);
    beforeEach(() => (lines.length = 0));

    it('LOG_FORMAT=json and LOG_LEVEL=warn, any case', () => {
      const log = loggerFromEnv('svc', { write }, { LOG_FORMAT: 'JSON', LOG_LEVEL: ' Warn ' });
      log.info('dropped');
      log.warn('kept', { id: 'a1' });
      expect(lines).to.have.length(1);
      expect(JSON.parse(lines[0]!)).to.include({ level: 'warn', logger: 'svc', message: 'kept', id: 'a1' });
    });

    it('unset or empty: text at info', () => {
      const log = loggerFromEnv('svc', { write }, { LOG_FORMAT: '', LOG_LEVEL: undefined });
      log.debug?.('dropped');
      log.info('kept');
      expect(lines).to.deep.equal(['[svc] INFO kept\n']);
    });

    for (const [variable, value] of [['LOG_LEVEL', 'verbose'], ['LOG_FORMAT', 'yaml'], ['LOG_LEVEL', 'amqp://u:pw-123@h']] as const) {
      it(`${variable}=${value} is a LogConfigError naming what is allowed`, () => {
        const err = (() => {
          try {
            loggerFromEnv('svc', { write }, { [variable]: value });
            return null;
          } catch (e) {
            return e;
          }
        })();
        expect(err).to.be.instanceOf(LogConfigError);
        expect((err as LogConfigError).code).to.equal('E_LOG_CONFIG');
        expect((err as Error).message).to.match(new RegExp(`^${variable} must be one of `));
        expect((err as Error).message).not.to.include('pw-123');
      });
    }
  });
});
