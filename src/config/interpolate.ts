/** The outcome of expanding one string; `problems` is empty when every reference resolved. */
export interface Interpolation {
  value: string;
  /** One message per reference that could not be expanded, in order. */
  problems: string[];
  /** True when the text held at least one `${...}` reference. */
  expanded: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Expands `${VAR}` and `${VAR:-default}` in `text` from `env`, and turns `$$` into a literal `$`.
 * As in the shell, the default applies when the variable is unset or empty. A `$` followed by
 * anything else is kept as is, so shell commands such as `echo $HOME` pass through to the shell.
 * Defaults are literal text (no nested references). Never throws: an unset variable without a
 * default, a malformed reference or an unterminated `${` is reported in `problems`, and that
 * reference expands to the empty string.
 */
export function interpolate(text: string, env: NodeJS.ProcessEnv): Interpolation {
  const problems: string[] = [];
  let value = '';
  let expanded = false;
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar === -1 || dollar === text.length - 1) {
      value += text.slice(i);
      break;
    }
    value += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      value += '$';
      i = dollar + 2;
      continue;
    }
    if (next !== '{') {
      value += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close === -1) {
      problems.push(`unterminated "\${" (write "$$" for a literal "$")`);
      break;
    }
    expanded = true;
    value += expand(text.slice(dollar + 2, close), env, problems);
    i = close + 1;
  }
  return { value, problems, expanded };
}

function expand(reference: string, env: NodeJS.ProcessEnv, problems: string[]): string {
  const sep = reference.indexOf(':-');
  const name = sep === -1 ? reference : reference.slice(0, sep);
  const fallback = sep === -1 ? undefined : reference.slice(sep + 2);
  if (!NAME.test(name)) {
    problems.push(`invalid variable reference "\${${reference}}"`);
    return '';
  }
  if (fallback?.includes('${')) {
    problems.push(`nested references are not supported in "\${${reference}}"`);
    return '';
  }
  const set = env[name];
  if (set !== undefined && (fallback === undefined || set !== '')) return set;
  if (fallback !== undefined) return fallback;
  problems.push(`environment variable ${name} is not set`);
  return '';
}
