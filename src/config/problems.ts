import type { z } from 'zod';

/** One problem found in the configuration, named by its dotted path. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

/** Thrown by loadConfig / parseConfig; `problems` lists every bad path, not just the first. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  ${p.path || '(root)'}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** How zod's issues read as problems: which kinds own a key, and hints for missing keys. */
export interface ProblemHints {
  /** A key unknown on a channel → the kinds that have it ("only allowed on channels of kind …"). */
  kindsWithKey(key: string): string | undefined;
  /** A missing key at this dotted path → a hint appended to "is required". */
  requiredHint(path: readonly string[]): string | undefined;
}

export function zodProblems(error: z.ZodError, hints: ProblemHints): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const kinds = path.length === 2 && path[0] === 'channels' ? hints.kindsWithKey(key) : undefined;
        problems.push({ path: [...path, key].join('.'), message: kinds ? `only allowed on channels of kind ${kinds}` : 'unknown key' });
      }
    } else if (issue.code === 'invalid_key' && path.length > 0) {
      problems.push({ path: path.join('.'), message: issue.issues[0]?.message ?? issue.message });
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      problems.push({ path: path.join('.'), message: `is required${hints.requiredHint(path) ?? ''}` });
    } else {
      problems.push({ path: path.join('.'), message: issue.message });
    }
  }
  return problems;
}
