import { Type } from '@sinclair/typebox';

// Text and names chosen to break naive emitters: quotes that close Python docstrings and JSDoc, escapes,
// template syntax, control characters, non-ASCII, and argument names that are contextual keywords.
const nasty = 'Ends """ and \'\'\' here, a backslash \\ and \\n (not a newline), */ closes /* nothing, ${not.interpolated} `tick`';

export default {
  service: 'hostile',
  version: '0.1.0',
  description: `${nasty}\nsecond line\ttabbed, bell \u0007, CR \r, unicode é ü 漢字 🚀 and \u2028 a line separator "`,
  queue: 'hostile',
  tasks: {
    quote: {
      description: `${nasty} "`,
      versions: {
        1: {
          name: 'hostile.quote',
          args: { type: Type.String(), of: Type.String(), get: Type.String(), constructor: Type.String() },
          result: Type.Null(),
        },
        2: {
          name: 'hostile.quote_v2',
          description: `v2: ${nasty}\n  indented """"" five quotes ""`,
          args: { type: Type.String(), string: Type.Number(), declare: Type.Boolean(), readonly: Type.String(), keyof: Type.String() },
          kwargs: Type.Object({ async: Type.Optional(Type.String()) }),
          result: Type.Null(),
        },
      },
    },
  },
};
