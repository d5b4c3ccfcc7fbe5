import { Type } from '@sinclair/typebox';

// A scoped npm name and a license: the folder stays mailer-bindings/, the package is @acme/mailer-bindings.
export default {
  service: 'mailer',
  package: '@acme/mailer-bindings',
  license: 'Apache-2.0',
  version: '0.3.0',
  queue: 'mail',
  tasks: {
    send: {
      versions: {
        1: {
          name: 'mailer.send',
          args: { to: Type.String(), body: Type.String() },
          result: Type.Null(),
        },
      },
    },
  },
};
