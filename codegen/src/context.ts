/** Options of one generation run, with every default resolved here and nowhere else. */
export interface GenerateOptions {
  /** Semver range of @taskbus/runtime the bindings depend on. */
  readonly runtimeRange?: string;
  readonly typeboxRange?: string;
  readonly typescriptRange?: string;
}

export type GenerateContext = Required<GenerateOptions>;

const KNOWN = new Set(['runtimeRange', 'typeboxRange', 'typescriptRange']);

export function resolveOptions(options: GenerateOptions): GenerateContext {
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new TypeError(`unknown generate option "${key}"`);
  }
  return {
    runtimeRange: options.runtimeRange ?? '^0.1.0',
    typeboxRange: options.typeboxRange ?? '^0.34.41',
    typescriptRange: options.typescriptRange ?? '^5.9.3',
  };
}
