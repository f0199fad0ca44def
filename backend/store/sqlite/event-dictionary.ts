/**
 * Small integer codes for the names that repeat in every raw event row: device
 * ids, event types and whole metadata tag sets (their JSON text), table
 * `event_dictionary` (migration 14, docs/STORAGE.md). A row stores the code
 * (0–3 bytes) instead of the name; a name that finds no room (a kind's codes
 * are capped so the dictionary's memory stays bounded) is stored as its UTF-8
 * bytes (a BLOB, which the columns' INTEGER affinity never converts, where it
 * would turn the text "42" into a number), and stays so: the dictionary only
 * grows, so a name's stored form is fixed by the first time it is seen. Every code is in memory (this process is the
 * database's only writer), so encoding and decoding never read the database.
 */
import { chunks } from "./event-partitions.ts";
import type { SqlDriver, SqlStatement, SqlValue } from "./sql-driver.ts";

/** What a code stands for. */
export type NameKind = "device" | "type" | "tags";

/** The number of each kind in the `kind` column. */
const KIND_NUMBERS: Record<NameKind, number> = { device: 0, type: 1, tags: 2 };
const KINDS: NameKind[] = ["device", "type", "tags"];

/** Most codes per kind: the memory bound of the dictionary (names are at most 128 / 64 / 512 chars). */
export const DEFAULT_DICTIONARY_CAPS: Readonly<Record<NameKind, number>> = {
  device: 262_144,
  type: 65_536,
  tags: 16_384,
};
/** Tag sets longer than this (JSON chars) are stored inline: they are unlikely to repeat. */
export const MAX_INTERNED_TAGS_LENGTH = 512;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** A flat tag set, as events carry it. */
export type Tags = Record<string, string | number | boolean>;

class Names {
  readonly codes = new Map<string, number>();
  readonly names: string[] = [];
  /** Parsed tag sets by code (kind `tags` only). */
  readonly tags: Tags[] = [];
  constructor(readonly cap: number, readonly maxLength: number) {}
}

interface Unconfirmed {
  kind: NameKind;
  code: number;
  name: string;
}

export class EventDictionary {
  readonly #kinds: Record<NameKind, Names>;
  /** Codes handed out whose rows are not known to be committed yet. */
  #unconfirmed: Unconfirmed[] = [];

  private constructor(caps: Readonly<Record<NameKind, number>>) {
    this.#kinds = {
      device: new Names(caps.device, Infinity),
      type: new Names(caps.type, Infinity),
      tags: new Names(caps.tags, MAX_INTERNED_TAGS_LENGTH),
    };
  }

  /** Reads every code. `caps` bounds the codes handed out from now on (tests lower them). */
  static async load(
    driver: SqlDriver,
    caps: Partial<Record<NameKind, number>> = {},
  ): Promise<EventDictionary> {
    const dictionary = new EventDictionary({ ...DEFAULT_DICTIONARY_CAPS, ...caps });
    const rows = await driver.all<{ kind: number; code: number; name: string }>(
      "SELECT kind, code, name FROM event_dictionary ORDER BY kind, code",
    );
    for (const r of rows) {
      const kind = KINDS[r.kind];
      if (kind !== undefined) dictionary.#add(kind, r.code, r.name);
    }
    return dictionary;
  }

  /**
   * Reads the codes another connection committed since this dictionary was loaded or last
   * refreshed (a reader beside the writing process: codes are only ever appended).
   */
  async refresh(driver: SqlDriver): Promise<void> {
    const rows = await driver.all<{ kind: number; code: number; name: string }>(
      "SELECT kind, code, name FROM event_dictionary WHERE (kind = ? AND code >= ?) OR (kind = ? AND code >= ?) OR (kind = ? AND code >= ?) ORDER BY kind, code",
      KINDS.flatMap((kind) => [KIND_NUMBERS[kind], this.#kinds[kind].names.length]),
    );
    for (const r of rows) {
      const kind = KINDS[r.kind];
      if (kind !== undefined) this.#add(kind, r.code, r.name);
    }
  }

  /** The stored form of `name`: its code (handing out the next one while there is room) or its bytes. */
  encode(kind: NameKind, name: string): number | Uint8Array {
    const names = this.#kinds[kind];
    const code = names.codes.get(name);
    if (code !== undefined) return code;
    if (names.names.length >= names.cap || name.length > names.maxLength) return utf8.encode(name);
    const next = names.names.length;
    this.#add(kind, next, name);
    this.#unconfirmed.push({ kind, code: next, name });
    return next;
  }

  /** The stored form of `name` without handing out a code (for filters): its code, or its bytes. */
  lookup(kind: NameKind, name: string): number | Uint8Array {
    return this.#kinds[kind].codes.get(name) ?? utf8.encode(name);
  }

  /**
   * The name a stored value stands for: a code's name (undefined for a code this dictionary does
   * not have), the text of bytes, or text as it is (a row written by other code).
   */
  name(kind: NameKind, stored: unknown): string | undefined {
    if (typeof stored === "number") return this.#kinds[kind].names[stored];
    return stored instanceof Uint8Array ? fromUtf8.decode(stored) : stored as string;
  }

  /** A copy of the tag set a stored `metadata` value stands for (a code or JSON), or null. */
  tags(stored: unknown): Tags | null {
    if (stored === null || stored === undefined) return null;
    if (typeof stored === "number") {
      const tags = this.#kinds.tags.tags[stored];
      return tags === undefined ? null : { ...tags };
    }
    return JSON.parse(this.name("tags", stored)!);
  }

  /** Codes of the interned tag sets that satisfy `test`. */
  tagCodes(test: (tags: Tags) => boolean): number[] {
    const out: number[] = [];
    this.#kinds.tags.tags.forEach((tags, code) => test(tags) && out.push(code));
    return out;
  }

  /**
   * Statements writing every code not yet known to be committed (`ON CONFLICT DO NOTHING`, so two
   * commits in flight may both carry one), and a `confirm` to call once they committed.
   */
  pending(): { statements: SqlStatement[]; confirm: () => void } {
    const taken = this.#unconfirmed;
    if (taken.length === 0) return { statements: [], confirm: () => {} };
    const statements: SqlStatement[] = [];
    for (const [from, n] of chunks(0, taken.length)) {
      const args: SqlValue[] = [];
      for (const u of taken.slice(from, from + n)) args.push(KIND_NUMBERS[u.kind], u.code, u.name);
      statements.push({
        sql: `INSERT INTO event_dictionary (kind, code, name) VALUES ${
          Array(n).fill("(?, ?, ?)").join(", ")
        } ON CONFLICT DO NOTHING`,
        args,
      });
    }
    return {
      statements,
      confirm: () => {
        const done = new Set(taken);
        this.#unconfirmed = this.#unconfirmed.filter((u) => !done.has(u));
      },
    };
  }

  /** How many codes of each kind are in use. */
  size(kind: NameKind): number {
    return this.#kinds[kind].names.length;
  }

  #add(kind: NameKind, code: number, name: string): void {
    const names = this.#kinds[kind];
    names.codes.set(name, code);
    names.names[code] = name;
    if (kind === "tags") names.tags[code] = JSON.parse(name);
  }
}

/** DDL of the dictionary table (migration 14). */
export const DICTIONARY_DDL =
  "CREATE TABLE event_dictionary (kind INTEGER NOT NULL, code INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (kind, code)) WITHOUT ROWID";

/** The `kind` column's number of `kind` (for the migration's SQL). */
export function kindNumber(kind: NameKind): number {
  return KIND_NUMBERS[kind];
}
