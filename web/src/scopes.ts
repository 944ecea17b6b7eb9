/** The scopes of SPEC section 12 as the dashboard reads them (pure: unit-tested). */
import type { WhoAmIResponse } from './api-types';

export type Scope = WhoAmIResponse['scopes'][number];
export type Session = WhoAmIResponse;

/** A scope holds every scope it includes (SPEC section 12). */
const INCLUDES: Record<Scope, readonly Scope[]> = {
  read: ['read'],
  write: ['read', 'write'],
  admin: ['read', 'write', 'admin'],
};

export function allows(held: readonly Scope[], needed: Scope): boolean {
  return held.some((s) => INCLUDES[s]?.includes(needed));
}

/** An orchestrator without /api/whoami knows only ADMIN_TOKEN: whoever signed in is the admin. */
export const BOOTSTRAP: Session = { type: 'bootstrap', id: null, name: null, scopes: ['admin'], namespaces: null };

/** "read", "write" or "admin": the widest scope held, for the header. */
export function widest(scopes: readonly Scope[]): Scope {
  return allows(scopes, 'admin') ? 'admin' : allows(scopes, 'write') ? 'write' : 'read';
}
