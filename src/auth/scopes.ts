/**
 * The one table of scopes (SPEC section 12). A route states the scope it needs with
 * `@RequireScope()`; a token holding a scope holds every scope it includes.
 *
 * - `read`: every GET except tokens, registration tokens and audit.
 * - `write`: read, plus submitting and canceling runs and batches, namespaces, secrets,
 *   workloads and instances.
 * - `admin`: everything: runners, tokens, registration tokens, audit.
 */
/** Metadata key of a route's scope (`@RequireScope()`). */
export const SCOPE_KEY = 'pulse:scope';

export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const INCLUDES: Record<Scope, readonly Scope[]> = {
  read: ['read'],
  write: ['read', 'write'],
  admin: ['read', 'write', 'admin'],
};

/** True when a token with `held` scopes may use a route that needs `needed`. */
export function allows(held: readonly Scope[], needed: Scope): boolean {
  return held.some((scope) => INCLUDES[scope].includes(needed));
}

/** Who did something, as the audit log records it. */
export interface Actor {
  type: 'token' | 'bootstrap' | 'runner' | 'system';
  id: string | null;
  name: string | null;
  ip: string | null;
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: null, name: null, ip: null };

/** The authenticated caller of a user or admin route. */
export interface Caller {
  actor: Actor;
  scopes: readonly Scope[];
  /** The namespaces this caller may see and act on; null: every namespace. */
  namespaces: readonly string[] | null;
}

/** Whether the caller may see the namespace (a namespace-bound token sees its own only). */
export function seesNamespace(caller: Pick<Caller, 'namespaces'> | undefined, namespace: string): boolean {
  return !caller?.namespaces || caller.namespaces.includes(namespace);
}
