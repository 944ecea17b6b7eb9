/**
 * What the signed-in token may do (GET /api/whoami): its kind, name, scopes and namespaces. The
 * dashboard shows only the actions its scopes allow; the API still decides (a 403 shows in words).
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { allows, BOOTSTRAP, type Scope, type Session } from './scopes';

export { allows, BOOTSTRAP, widest, type Scope, type Session } from './scopes';

export const SessionContext = createContext<Session>(BOOTSTRAP);

export function useSession(): Session {
  return useContext(SessionContext);
}

/** `const can = useCan(); can('write') && <button>…` */
export function useCan(): (scope: Scope) => boolean {
  const session = useSession();
  return (scope) => allows(session.scopes, scope);
}
