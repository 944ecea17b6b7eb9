/**
 * The runner token in use, and the one before it (SPEC section 12, token rotation).
 *
 * A heartbeat answer may offer a new token. The runner writes it to its config file (beside the
 * current one, which becomes `previousRunnerToken`) with a temp file, fsync and rename, and only
 * then uses it: a crash at any moment leaves a config that holds a working token. A request
 * refused with 401 is tried once more with the previous token (the new one may never have
 * reached the orchestrator's records, e.g. a runner restored from an older config).
 */
export type PersistTokens = (current: string, previous: string | undefined) => Promise<void>;

export class RunnerCredentials {
  constructor(
    private currentToken: string,
    private previousToken?: string,
    private readonly persist?: PersistTokens,
  ) {}

  get current(): string {
    return this.currentToken;
  }

  get previous(): string | undefined {
    return this.previousToken;
  }

  /** Saves an offered token durably, then uses it. Throws (and keeps the current one) when it cannot be saved. */
  async adopt(offered: string): Promise<boolean> {
    if (offered === this.currentToken) return false;
    await this.persist?.(offered, this.currentToken);
    this.previousToken = this.currentToken;
    this.currentToken = offered;
    return true;
  }

  /**
   * `refused` got a 401. When it is the token in use and a previous one exists, switch back to
   * the previous one. True when the request should be tried again with `current`.
   */
  fallBack(refused: string): boolean {
    if (refused !== this.currentToken) return true; // another request switched meanwhile
    if (!this.previousToken) return false;
    this.currentToken = this.previousToken;
    this.previousToken = undefined;
    return true;
  }
}
