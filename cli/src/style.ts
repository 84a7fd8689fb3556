/** Terminal styling: ANSI colour on a terminal, plain text when piped (or NO_COLOR, or --no-color). */
export interface Style {
  readonly color: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;

export const plain: Style = {
  color: false,
  bold: (s) => s,
  dim: (s) => s,
  red: (s) => s,
  green: (s) => s,
  yellow: (s) => s,
  cyan: (s) => s,
};

export const ansi: Style = {
  color: true,
  bold: wrap(1, 22),
  dim: wrap(2, 22),
  red: wrap(31, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  cyan: wrap(36, 39),
};

/** Colour when writing to a terminal, unless NO_COLOR is set or --no-color was given; FORCE_COLOR forces it. */
export function wantsColor(
  isTty: boolean,
  env: Readonly<Record<string, string | undefined>>,
  flag: boolean | undefined,
): boolean {
  if (flag === false) return false;
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return isTty;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI sequences this file writes
const ANSI = /\x1b\[[0-9;]*m/g;

/** Length as the terminal shows it (without ANSI sequences). */
export const visibleLength = (s: string): number => s.replace(ANSI, '').length;
export const stripAnsi = (s: string): string => s.replace(ANSI, '');
