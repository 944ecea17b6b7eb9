/**
 * Gathers concurrent requests for the same kind of statement into one statement (group commit for
 * the hot path): with 64 runners completing at once, one `UPDATE … FROM unnest(…)` instead of 64
 * round trips and 64 commits.
 *
 * No request waits for a timer: the first one is sent on the next turn of the event loop, and
 * whatever arrives while `maxInFlight` statements are out is sent together as soon as one comes
 * back. Under low load every batch is one request, so latency is what it was without batching.
 */
export class Coalescer<T, R> {
  private pending: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private inFlight = 0;
  private scheduled = false;

  /**
   * `run` gets the items of one batch and answers one result per item, in order. If it throws,
   * every request of that batch fails with the same error.
   */
  constructor(
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly maxInFlight = 2,
    private readonly maxBatch = 256,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.inFlight >= this.maxInFlight || this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.maxBatch);
    this.inFlight++;
    this.run(batch.map((b) => b.item))
      .then(
        (results) => batch.forEach((b, i) => b.resolve(results[i])),
        (err: unknown) => batch.forEach((b) => b.reject(err)),
      )
      .finally(() => {
        this.inFlight--;
        this.schedule();
      });
    // More waiting than one batch takes, and room for another statement: send it too.
    this.schedule();
  }
}
