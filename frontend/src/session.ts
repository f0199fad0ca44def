/** The signed-in key and what it may do, shared by every page. */
import { createContext, useContext } from "react";
import type { Whoami } from "./api.ts";

export interface Session {
  who: Whoami;
  isAdmin: boolean;
  signOut(): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside a signed-in view");
  return s;
}
