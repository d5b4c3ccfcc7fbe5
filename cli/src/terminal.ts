// Text from the broker and from remote workers may hold control characters: shown escaped, never obeyed by
// the terminal that prints them.

const escaped = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** A line of text with its control characters (and the line separators) escaped. */
export const printable = (s: string): string => s.replace(/[\p{Cc}\u2028\u2029]/gu, escaped);

/**
 * JSON for the terminal: JSON.stringify escapes C0 controls but writes DEL and the C1 controls (U+009B is CSI,
 * an escape sequence's start to many terminals) as they are; they are escaped too, and the JSON means the same.
 */
export const terminalJson = (value: unknown, space?: number): string => JSON.stringify(value, null, space).replace(/[\u007f-\u009f\u2028\u2029]/g, escaped);
