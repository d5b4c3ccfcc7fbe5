import { Writers } from 'ts-morph';
import { importFrom, print, quote } from './emit-ts.js';
import { ContractDefinitionError } from './errors.js';
import { SERVICE_NAME } from './model.js';

/**
 * The text of a starter contract, `contracts/<service>.ts`: one task with one version that passes
 * `taskbus generate` as written. Pure; the CLI writes it (never over an existing file).
 */
export function starterContract(service: string): string {
  if (!SERVICE_NAME.test(service)) {
    throw new ContractDefinitionError(`service "${service}"`, 'a service name is lower case, digits and dashes, such as "pusher" or "image-resizer"');
  }
  // Celery task names are Python-style: dashes would not survive as module names on a Python worker.
  const celery = `${service.replaceAll('-', '_')}.hello`;
  return print([
    importFrom('@sinclair/typebox', ['Type']),
    [
      '',
      `// The ${service} service's tasks. Each version is a Celery task name with positional args (in order),`,
      '// optional kwargs (Type.Object) and a result; a breaking change gets a new version with a new name.',
      '// Bump `version` when this changes, then run `taskbus generate`.',
    ].join('\n'),
    // Written out: an export assignment structure would hang the object one level in (see print).
    (w) => {
      w.write('export default ');
      Writers.object({
        service: quote(service),
        version: quote('0.1.0'),
        description: quote(`What the ${service} service does.`),
        queue: quote(service),
        tasks: Writers.object({
          hello: Writers.object({
            description: quote('Greets `name`: a first task to replace with your own.'),
            versions: Writers.object({
              1: Writers.object({
                name: quote(celery),
                args: Writers.object({ name: 'Type.String({ minLength: 1 })' }),
                result: 'Type.String()',
              }),
            }),
          }),
        }),
      })(w);
      w.write(';');
    },
  ]);
}
