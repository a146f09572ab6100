/**
 * The matcher of `lockd status --job NAME|GLOB`: `*` stands for any run of characters (none
 * included), `?` for exactly one; everything else is literal, and the whole name must match, case
 * sensitively. A pattern without `*` or `?` matches only the job of that name. Never throws.
 */
export function jobGlob(pattern: string): (name: string) => boolean {
  const source = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('');
  const re = new RegExp(`^${source}$`, 'su');
  return (name) => re.test(name);
}
