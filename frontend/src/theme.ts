/**
 * Dark and light themes: follows the system unless the user picked one
 * (kept in localStorage). Sets the `dark` class on <html>, read by Tailwind's
 * dark variant, and tells subscribers (charts pick their colours from it).
 */
import { useSyncExternalStore } from "react";

export type ThemeChoice = "system" | "light" | "dark";
const STORAGE = "pulsestream.theme";
const media = matchMedia("(prefers-color-scheme: dark)");
const listeners = new Set<() => void>();

export function themeChoice(): ThemeChoice {
  const v = localStorage.getItem(STORAGE);
  return v === "light" || v === "dark" ? v : "system";
}

function isDark(): boolean {
  const c = themeChoice();
  return c === "dark" || (c === "system" && media.matches);
}

export function applyTheme(): void {
  document.documentElement.classList.toggle("dark", isDark());
  for (const l of listeners) l();
}

export function setTheme(choice: ThemeChoice): void {
  if (choice === "system") localStorage.removeItem(STORAGE);
  else localStorage.setItem(STORAGE, choice);
  applyTheme();
}

media.addEventListener("change", applyTheme);

export function useDark(): boolean {
  return useSyncExternalStore((l) => {
    listeners.add(l);
    return () => listeners.delete(l);
  }, isDark);
}
