import { Type, type TSchema } from '@sinclair/typebox';
import { expect } from 'chai';
import { assertVersionBumps, compareContracts, describeChange, VersionTooLowError, type ContractSource } from '@taskbus/codegen';

const TEXT = "import { Type } from '@sinclair/typebox';\nexport default {};\n";

interface V {
  name?: string;
  queue?: string;
  args?: Record<string, TSchema>;
  kwargs?: TSchema;
  result?: TSchema;
  deprecated?: true | string;
}

const key = Type.String({ minLength: 1, maxLength: 100 });
const count = Type.Integer({ minimum: 0, maximum: 10 });
const kind = Type.Union([Type.Literal('a'), Type.Literal('b')]);

const BASE: V = {
  name: 'svc.do_it',
  args: { key, count, kind },
  kwargs: Type.Object({ tag: Type.Optional(Type.String({ pattern: '^[a-z]+$' })), meta: Type.Optional(Type.Object({ x: Type.String() })) }),
  result: Type.Object({ id: Type.String(), size: Type.Integer() }),
};

function source(
  versions: Record<number, V>,
  { version = '1.0.0', tasks, queueType }: { version?: string; tasks?: Record<string, Record<number, V>>; queueType?: string } = {},
): ContractSource {
  const t = tasks ?? { doIt: versions };
  const built = Object.fromEntries(
    Object.entries(t).map(([key, vs]) => [key, { versions: Object.fromEntries(Object.entries(vs).map(([n, v]) => [n, { name: `svc.${key}_v${n}`, args: {}, result: Type.Null(), ...v }])) }]),
  );
  return { file: 'contracts/svc.ts', text: TEXT, exported: { service: 'svc', version, queue: 'svc', ...(queueType ? { queueType } : {}), tasks: built } };
}

/** The lines `check` prints for one change of v1 of doIt. */
function changes(after: V | null, extra: Record<number, V> = {}, before: V = BASE): string[] {
  const [verdict] = compareContracts([source({ 1: before })], [source(after ? { 1: after, ...extra } : extra)]);
  return verdict!.changes.map((c) => `${c.breaking ? 'breaking' : 'compatible'}: ${describeChange(c)}`);
}

const at = 'svc doIt v1 (svc.do_it)';

describe('compat: the breaking-change rules, one case each', () => {
  // [rule, the new v1 (null: removed), new further versions, the lines check prints]
  const breaking: [string, V | null, Record<number, V>, string[]][] = [
    ['argument removed', { ...BASE, args: { key, count } }, {}, [`breaking: ${at}: argument 'kind' removed`]],
    ['argument renamed', { ...BASE, args: { name: key, count, kind } }, {}, [`breaking: ${at}: argument 'key' renamed to 'name'`]],
    ['arguments reordered', { ...BASE, args: { count, key, kind } }, {}, [`breaking: ${at}: argument 'count' moved from position 2 to 1`, `breaking: ${at}: argument 'key' moved from position 1 to 2`]],
    ['argument added (positional: required)', { ...BASE, args: { key, count, kind, extra: Type.String() } }, {}, [`breaking: ${at}: argument 'extra' added as required (positional arguments are always required)`]],
    ['type narrowed string -> number', { ...BASE, args: { key: Type.Number(), count, kind } }, {}, [`breaking: ${at}: argument 'key': type changed from string to number`]],
    ['type narrowed number -> integer', { ...BASE, args: { key, count, kind }, result: BASE.result, kwargs: Type.Object({ tag: Type.Optional(Type.String({ pattern: '^[a-z]+$' })), meta: Type.Optional(Type.Object({ x: Type.Integer() })) }) }, {}, [`breaking: ${at}: kwarg 'meta'.x: type changed from string to integer`]],
    ['minLength raised', { ...BASE, args: { key: Type.String({ minLength: 3, maxLength: 100 }), count, kind } }, {}, [`breaking: ${at}: argument 'key': minLength raised from 1 to 3`]],
    ['maxLength lowered', { ...BASE, args: { key: Type.String({ minLength: 1, maxLength: 50 }), count, kind } }, {}, [`breaking: ${at}: argument 'key': maxLength lowered from 100 to 50`]],
    ['minimum raised', { ...BASE, args: { key, count: Type.Integer({ minimum: 1, maximum: 10 }), kind } }, {}, [`breaking: ${at}: argument 'count': minimum raised from 0 to 1`]],
    ['maximum lowered', { ...BASE, args: { key, count: Type.Integer({ minimum: 0, maximum: 5 }), kind } }, {}, [`breaking: ${at}: argument 'count': maximum lowered from 10 to 5`]],
    ['pattern added', { ...BASE, args: { key: Type.String({ minLength: 1, maxLength: 100, pattern: '^k' }), count, kind } }, {}, [`breaking: ${at}: argument 'key': pattern '^k' added`]],
    ['pattern changed', { ...BASE, kwargs: Type.Object({ tag: Type.Optional(Type.String({ pattern: '^[a-z0-9]+$' })), meta: Type.Optional(Type.Object({ x: Type.String() })) }) }, {}, [`breaking: ${at}: kwarg 'tag': pattern changed from '^[a-z]+$' to '^[a-z0-9]+$'`]],
    ['literal-union value removed', { ...BASE, args: { key, count, kind: Type.Union([Type.Literal('a')]) } }, {}, [`breaking: ${at}: argument 'kind': value 'b' removed`]],
    ['enum value removed', { ...BASE, args: { key, count, kind: Type.Enum({ A: 'a' }) } }, {}, [`breaking: ${at}: argument 'kind': value 'b' removed`]],
    ['additionalProperties closed', { ...BASE, kwargs: Type.Object({ tag: Type.Optional(Type.String({ pattern: '^[a-z]+$' })), meta: Type.Optional(Type.Object({ x: Type.String() }, { additionalProperties: false })) }) }, {}, [`breaking: ${at}: kwarg 'meta': additionalProperties closed`]],
    ['optional kwarg made required', { ...BASE, kwargs: Type.Object({ tag: Type.String({ pattern: '^[a-z]+$' }), meta: Type.Optional(Type.Object({ x: Type.String() })) }) }, {}, [`breaking: ${at}: kwarg 'tag' made required`]],
    ['kwarg removed (kwargs are closed)', { ...BASE, kwargs: Type.Object({ meta: Type.Optional(Type.Object({ x: Type.String() })) }) }, {}, [`breaking: ${at}: kwarg 'tag' removed`]],
    ['required kwarg added', { ...BASE, kwargs: Type.Object({ tag: Type.Optional(Type.String({ pattern: '^[a-z]+$' })), meta: Type.Optional(Type.Object({ x: Type.String() })), must: Type.String() }) }, {}, [`breaking: ${at}: kwarg 'must' added as required`]],
    ['result field removed', { ...BASE, result: Type.Object({ id: Type.String() }) }, {}, [`breaking: ${at}: result field 'size' removed`]],
    ['result field type changed', { ...BASE, result: Type.Object({ id: Type.String(), size: Type.String() }) }, {}, [`breaking: ${at}: result field 'size': type changed from integer to string`]],
    ['result widened (integer -> number)', { ...BASE, result: Type.Object({ id: Type.String(), size: Type.Number() }) }, {}, [`breaking: ${at}: result field 'size': type widened from integer to number`]],
    ['task name changed', { ...BASE, name: 'svc.do_it_renamed' }, {}, [`breaking: ${at}: task name changed to 'svc.do_it_renamed' (workers no longer serve 'svc.do_it')`]],
    ['queue changed', { ...BASE, queue: 'other' }, {}, [`breaking: ${at}: queue changed from 'svc' to 'other'`]],
    ['version removed while not deprecated', null, { 2: { ...BASE, name: 'svc.do_it_v2' } }, [`breaking: ${at}: version removed while not deprecated (mark it deprecated in a release first)`, 'compatible: svc doIt v2 (svc.do_it_v2): new version']],
    ['field removed from an open nested argument object (TypeScript callers passing it no longer compile)', { ...BASE, kwargs: Type.Object({ tag: Type.Optional(Type.String({ pattern: '^[a-z]+$' })), meta: Type.Optional(Type.Object({})) }) }, {}, [`breaking: ${at}: kwarg 'meta'.x removed`]],
  ];
  for (const [rule, after, extra, want] of breaking) {
    it(`breaking: ${rule}`, () => expect(changes(after, extra)).to.deep.equal(want));
  }

  it('breaking: a field added to a closed result object (old callers check results against their copy and refuse it)', () => {
    const closed = { ...BASE, result: Type.Object({ id: Type.String(), size: Type.Integer() }, { additionalProperties: false }) };
    const added = { ...BASE, result: Type.Object({ id: Type.String(), size: Type.Integer(), more: Type.Optional(Type.String()) }, { additionalProperties: false }) };
    expect(changes(added, {}, closed)).to.deep.equal([`breaking: ${at}: result field 'more' added (optional)`]);
  });

  const compatible: [string, V | null, Record<number, V>, string[], V?][] = [
    ['new version', BASE, { 2: { ...BASE, name: 'svc.do_it_v2' } }, ['compatible: svc doIt v2 (svc.do_it_v2): new version']],
    ['new optional kwarg', { ...BASE, kwargs: Type.Object({ tag: Type.Optional(Type.String({ pattern: '^[a-z]+$' })), meta: Type.Optional(Type.Object({ x: Type.String() })), more: Type.Optional(Type.Boolean()) }) }, {}, [`compatible: ${at}: kwarg 'more' added (optional)`]],
    ['kwargs declared where there were none', { ...BASE, kwargs: Type.Object({ more: Type.Optional(Type.Boolean()) }) }, {}, [`compatible: ${at}: kwarg 'more' added (optional)`], { ...BASE, kwargs: undefined }],
    ['type widened (minLength lowered, maxLength removed)', { ...BASE, args: { key: Type.String(), count, kind } }, {}, [`compatible: ${at}: argument 'key': maxLength 100 removed`, `compatible: ${at}: argument 'key': minLength 1 removed`]],
    ['type widened (integer -> number)', { ...BASE, args: { key, count: Type.Number({ minimum: 0, maximum: 10 }), kind } }, {}, [`compatible: ${at}: argument 'count': type widened from integer to number`]],
    ['type widened (string -> string | null)', { ...BASE, args: { key: Type.Union([Type.String({ minLength: 1, maxLength: 100 }), Type.Null()]), count, kind } }, {}, [`compatible: ${at}: argument 'key': alternative null added`]],
    ['enum value added', { ...BASE, args: { key, count, kind: Type.Union([Type.Literal('a'), Type.Literal('b'), Type.Literal('c')]) } }, {}, [`compatible: ${at}: argument 'kind': value 'c' added`]],
    ['kwarg made optional', { ...BASE, kwargs: Type.Object({ tag: Type.Optional(Type.String({ pattern: '^[a-z]+$' })), meta: Type.Optional(Type.Object({ x: Type.String() })) }) }, {}, [`compatible: ${at}: kwarg 'tag' made optional`], { ...BASE, kwargs: Type.Object({ tag: Type.String({ pattern: '^[a-z]+$' }), meta: Type.Optional(Type.Object({ x: Type.String() })) }) }],
    ['new result field', { ...BASE, result: Type.Object({ id: Type.String(), size: Type.Integer(), etag: Type.String() }) }, {}, [`compatible: ${at}: result field 'etag' added as required`]],
    ['deprecated version removed', null, { 2: { ...BASE, name: 'svc.do_it_v2' } }, [`compatible: ${at}: version removed (it was deprecated)`, 'compatible: svc doIt v2 (svc.do_it_v2): new version'], { ...BASE, deprecated: 'use v2' }],
    ['version marked deprecated', { ...BASE, deprecated: 'use v2' }, {}, [`compatible: ${at}: marked deprecated: use v2`]],
    ['descriptions only (no schema change)', { ...BASE, args: { key: Type.String({ minLength: 1, maxLength: 100, description: 'the key' }), count, kind } }, {}, []],
  ];
  for (const [rule, after, extra, want, before] of compatible) {
    it(`compatible: ${rule}`, () => expect(changes(after, extra, before)).to.deep.equal(want));
  }

  it('a new task is compatible', () => {
    const [v] = compareContracts([source({ 1: BASE })], [source({}, { tasks: { doIt: { 1: BASE }, other: { 1: { name: 'svc.other' } } } })]);
    expect(v!.changes.map(describeChange)).to.deep.equal(['svc other v1 (svc.other): new task']);
    expect(v!.changes[0]!.breaking).to.equal(false);
  });
});

describe('compat: the queue type', () => {
  /** The lines `check` prints when the service's queue type goes from `before` to `after` (undefined: not written). */
  const typeChange = (before: string | undefined, after: string | undefined, versions: Record<number, V> = { 1: BASE }) => {
    const [verdict] = compareContracts([source(versions, { queueType: before })], [source(versions, { queueType: after, version: '2.0.0' })]);
    return { lines: verdict!.changes.map((c) => `${c.breaking ? 'breaking' : 'compatible'}: ${describeChange(c)}`), bump: verdict!.bump };
  };
  const why = (from: string, to: string) =>
    `queue 'svc' changed from ${from} to ${to} (callers with the earlier bindings declare it as ${from}, and RabbitMQ refuses them with 406 PRECONDITION_FAILED)`;

  it('breaking: classic -> quorum, for every version on the queue', () => {
    expect(typeChange(undefined, 'quorum', { 1: BASE, 2: { ...BASE, name: 'svc.do_it_v2' } })).to.deep.equal({
      lines: [`breaking: ${at}: ${why('classic', 'quorum')}`, `breaking: svc doIt v2 (svc.do_it_v2): ${why('classic', 'quorum')}`],
      bump: 'major',
    });
  });

  it('breaking: quorum -> classic', () => {
    expect(typeChange('quorum', 'classic')).to.deep.equal({ lines: [`breaking: ${at}: ${why('quorum', 'classic')}`], bump: 'major' });
  });

  it("no change: 'classic' written out where it was left to the default", () => {
    expect(typeChange(undefined, 'classic')).to.deep.equal({ lines: [], bump: 'none' });
  });

  it('a queue renamed and retyped is reported once, as the queue change', () => {
    const [verdict] = compareContracts([source({ 1: BASE })], [source({ 1: { ...BASE, queue: 'svc.q' } }, { queueType: 'quorum' })]);
    expect(verdict!.changes.map(describeChange)).to.deep.equal([`${at}: queue changed from 'svc' to 'svc.q'`]);
  });

  it('a new quorum service is compatible', () => {
    const [verdict] = compareContracts([], [source({ 1: BASE }, { queueType: 'quorum' })]);
    expect([verdict!.bump, verdict!.changes.every((c) => !c.breaking)]).to.deep.equal(['minor', true]);
  });

  it('generate refuses a queue type change released as a minor version', () => {
    const previous = [{ source: source({ 1: BASE }), version: '1.0.0' }];
    expect(() => assertVersionBumps(previous, [source({ 1: BASE }, { queueType: 'quorum', version: '1.1.0' })])).to.throw(VersionTooLowError, /need a major bump.*set version to 2\.0\.0/);
    expect(() => assertVersionBumps(previous, [source({ 1: BASE }, { queueType: 'quorum', version: '2.0.0' })])).not.to.throw();
  });
});

describe('compat: the bump each change needs, and whether the version says so', () => {
  const verdict = (after: V, version: string, from = '1.0.0') => compareContracts([source({ 1: BASE }, { version: from })], [source({ 1: after }, { version })])[0]!;
  const cases: [string, V, string, string, 'none' | 'patch' | 'minor' | 'major', string | null][] = [
    ['identical', BASE, '1.0.0', '1.0.0', 'none', null],
    ['description only, patch given', { ...BASE, result: Type.Object({ id: Type.String(), size: Type.Integer() }, { description: 'd' }) }, '1.0.1', '1.0.0', 'patch', null],
    ['description only, none given', { ...BASE, result: Type.Object({ id: Type.String(), size: Type.Integer() }, { description: 'd' }) }, '1.0.0', '1.0.0', 'patch', 'set version to 1.0.1 or later'],
    ['compatible, patch given', { ...BASE, deprecated: true }, '1.0.1', '1.0.0', 'minor', 'set version to 1.1.0 or later'],
    ['compatible, minor given', { ...BASE, deprecated: true }, '1.1.0', '1.0.0', 'minor', null],
    ['breaking, minor given', { ...BASE, queue: 'q2' }, '1.1.0', '1.0.0', 'major', 'set version to 2.0.0 or later'],
    ['breaking, major given', { ...BASE, queue: 'q2' }, '2.0.0', '1.0.0', 'major', null],
    ['breaking below 1.0: a minor step is enough (npm caret)', { ...BASE, queue: 'q2' }, '0.3.0', '0.2.5', 'major', null],
    ['breaking below 1.0: a patch step is not', { ...BASE, queue: 'q2' }, '0.2.6', '0.2.5', 'major', 'set version to 0.3.0 or later'],
    ['version went down', BASE, '0.9.0', '1.0.0', 'none', 'version went down from 1.0.0 to 0.9.0; set it to 1.0.0 or later'],
    ['version went down with a change', { ...BASE, deprecated: true }, '0.9.0', '1.0.0', 'minor', 'version went down from 1.0.0 to 0.9.0; set it to 1.1.0 or later'],
  ];
  for (const [name, after, version, from, bump, tooLow] of cases) {
    it(name, () => {
      const v = verdict(after, version, from);
      expect([v.bump, v.tooLow]).to.deep.equal([bump, tooLow]);
    });
  }

  it('assertVersionBumps refuses naming both versions and the bump, and passes an honest version', () => {
    const previous = [{ source: source({ 1: BASE }), version: '1.0.0' }];
    expect(() => assertVersionBumps(previous, [source({ 1: { ...BASE, queue: 'q2' } }, { version: '2.0.0' })])).not.to.throw();
    try {
      assertVersionBumps(previous, [source({ 1: { ...BASE, queue: 'q2' } }, { version: '1.1.0' })]);
      expect.fail('accepted a breaking change in a minor release');
    } catch (e) {
      expect(e).to.be.instanceOf(VersionTooLowError);
      expect((e as Error).message).to.equal(
        'svc: the changes since 1.0.0 need a major bump, but the contract says 1.1.0; set version to 2.0.0 or later (`taskbus check` lists the changes)',
      );
    }
  });
});
