/**
 * The fake backend's keys and values: a Map that also keeps its keys sorted, so a prefix read
 * costs O(log n + k) like an etcd range, and a test with 10,000 jobs does not pay for a scan of
 * every key on every `list`. Sorted order is JavaScript string order (UTF-16 code units).
 */
export class KeyValueMap extends Map<string, string> {
  readonly #sorted: string[] = [];

  override set(key: string, value: string): this {
    if (!this.has(key)) this.#sorted.splice(this.#lowerBound(key), 0, key);
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    if (!super.delete(key)) return false;
    this.#sorted.splice(this.#lowerBound(key), 1);
    return true;
  }

  override clear(): void {
    this.#sorted.length = 0;
    super.clear();
  }

  /** The keys starting with `prefix`, sorted. */
  keysWithPrefix(prefix: string): string[] {
    const out: string[] = [];
    for (let i = this.#lowerBound(prefix); i < this.#sorted.length && this.#sorted[i]!.startsWith(prefix); i++) out.push(this.#sorted[i]!);
    return out;
  }

  /** Index of the first key not less than `key`. */
  #lowerBound(key: string): number {
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#sorted[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
