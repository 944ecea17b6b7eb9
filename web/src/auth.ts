/**
 * The admin token of this tab: kept in sessionStorage (gone when the tab closes), never in a URL.
 * Components subscribe to sign-in / sign-out through `onAuthChange`.
 */
const KEY = 'pulse.token';
const listeners = new Set<() => void>();
let notice: string | null = null;

function storage(): Storage | null {
  return typeof sessionStorage === 'undefined' ? null : sessionStorage;
}

export function token(): string | null {
  return storage()?.getItem(KEY) ?? null;
}

export function signIn(value: string): void {
  storage()?.setItem(KEY, value);
  notice = null;
  listeners.forEach((l) => l());
}

/** Forgets the token; `why` is shown on the sign-in page (a token the server refused). */
export function signOut(why: string | null = null): void {
  storage()?.removeItem(KEY);
  notice = why;
  listeners.forEach((l) => l());
}

/** Why the last sign-out happened, if the server caused it. */
export function signOutNotice(): string | null {
  return notice;
}

export function onAuthChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
