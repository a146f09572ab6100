/**
 * The overall deadline of one logical etcd call (all its attempts), on the monotonic clock
 * (`performance.now()`). The clock starts when the first attempt is handed to grpc, not when the
 * call is issued: a call issued during a long synchronous stretch (planning thousands of slots)
 * gets its full time once it can actually be sent.
 */
export class CallBudget {
  private endsAt: number | undefined;

  constructor(readonly totalMs: number) {}

  /** Starts the clock, if no attempt has yet; also when an attempt failed before grpc read its deadline. */
  start(): void {
    this.endsAt ??= performance.now() + this.totalMs;
  }

  /** ms left; the whole budget until the first send. */
  remainingMs(): number {
    return this.endsAt === undefined ? this.totalMs : this.endsAt - performance.now();
  }

  /**
   * grpc call options for one attempt, whose deadline is at most `attemptMs` and never past the
   * budget. grpc wants a wall-clock deadline; it is computed when grpc reads it, right before it
   * starts the call (etcd3 passes the object through; grpc-js reads `deadline` when it creates
   * the call and turns it straight back into a relative timer), so a wall-clock step cannot move
   * it, and the budget starts at that first read.
   */
  attemptOptions(attemptMs: number): { readonly deadline: number } {
    const starts = (): number => {
      this.start();
      return Date.now() + Math.max(0, Math.min(attemptMs, this.remainingMs()));
    };
    return {
      get deadline(): number {
        return starts();
      },
    };
  }
}
