/**
 * The stream's dead letters: stored events the engine cannot take (`event`,
 * found while replaying after a restart) and seq ranges whose rollup flush kept
 * failing (`rollup-flush`, parked by `StreamService`). Replaying either folds
 * its events again, into a new engine (`foldDeadLetter`); the stream service
 * applies the result.
 */
import type { Clock } from "../clock.ts";
import type { Logger } from "../logger.ts";
import type { DeadLetter } from "../store/storage-store.ts";
import type { Store } from "../store/store.ts";
import type { EngineEvent, FlushBatch, StreamEngine } from "./engine.ts";

/**
 * The payload of a `rollup-flush` dead letter: events with fromSeq < seq <= toSeq are not in the
 * rollups. `events` is how many stored events of the range the engine had folded (seqs with their
 * own `event` dead letter excluded): a replay that finds fewer fails instead of settling.
 */
export interface RollupRangePayload {
  fromSeq: number;
  toSeq: number;
  buckets: number;
  events?: number;
}

/** Events read per page while replaying. */
export const REPLAY_PAGE = 10_000;
/** `event` dead letters listed per page. */
const LETTER_PAGE = 1000;

/** Why the engine cannot take `e`, or null if it can. */
export function undecodable(e: EngineEvent): string | null {
  if (typeof e.deviceId !== "string" || e.deviceId === "") return "deviceId";
  if (typeof e.eventType !== "string" || e.eventType === "") return "eventType";
  if (typeof e.timestamp !== "number" || !Number.isFinite(e.timestamp)) return "timestamp";
  if (e.value !== null && (typeof e.value !== "number" || !Number.isFinite(e.value))) return "value";
  if (!Number.isInteger(e.partition) || e.partition < 0) return "partition";
  return null;
}

/** Seqs in (`fromSeq`, `toSeq`] that have an `event` dead letter (pending or replayed). */
export async function eventLetterSeqs(store: Store, fromSeq: number, toSeq = Infinity): Promise<Set<number>> {
  const seqs = new Set<number>();
  let beforeId: number | undefined;
  for (;;) {
    const list = await store.deadLetters.list({ kind: "event", beforeId, limit: LETTER_PAGE });
    for (const d of list) {
      const seq = (d.payload as { seq?: unknown } | null)?.seq;
      if (typeof seq === "number" && seq > fromSeq && seq <= toSeq) seqs.add(seq);
    }
    if (list.length < LETTER_PAGE) return seqs;
    beforeId = list[list.length - 1].id;
  }
}

/**
 * `page` without the events the engine must not fold at start: rows it cannot take (a field of
 * the wrong type, e.g. written by another schema version) go to the dead letters as `event` items
 * instead of stopping the replay, and are added to `parked`; events already in `parked` (a dead
 * letter exists for their seq) are left out, since that letter's replay folds them.
 */
export async function parkUndecodable(
  page: EngineEvent[],
  parked: Set<number>,
  deps: { store: Store; clock: Clock; logger: Logger },
): Promise<EngineEvent[]> {
  const bad = page.filter((e) => !parked.has(e.seq) && undecodable(e) !== null);
  for (const e of bad) {
    parked.add(e.seq);
    await deps.store.deadLetters.add({
      kind: "event",
      payload: { seq: e.seq, row: e },
      reason: `undecodable at replay: ${undecodable(e)}`,
      attempts: 1,
      at: deps.clock.now(),
    });
    deps.logger.error("an undecodable event went to the dead letters", { seq: e.seq });
  }
  return parked.size ? page.filter((e) => !parked.has(e.seq)) : page;
}

/**
 * Folds the events of a `rollup-flush` or `event` dead letter into `engine` (a new one) and takes
 * the resulting flush batch. Fails when an event is still undecodable or when fewer events are
 * stored than the letter stands for (dropped by retention meanwhile).
 */
export async function foldDeadLetter(
  store: Store,
  engine: StreamEngine,
  letter: DeadLetter,
): Promise<FlushBatch> {
  const { fromSeq, toSeq, events } = rangeOf(letter);
  // Seqs with their own `event` dead letter are that letter's to fold, never this range's.
  const own = letter.kind === "rollup-flush"
    ? await eventLetterSeqs(store, fromSeq, toSeq)
    : new Set<number>();
  let found = 0;
  for (let after = fromSeq; after < toSeq;) {
    const read = (await store.eventsAfter(after, REPLAY_PAGE)).filter((e) => e.seq <= toSeq);
    if (read.length === 0) break;
    after = read[read.length - 1].seq;
    const page = own.size ? read.filter((e) => !own.has(e.seq)) : read;
    const bad = page.find((e) => undecodable(e) !== null);
    if (bad) throw new Error(`event seq ${bad.seq} is still undecodable: ${undecodable(bad)}`);
    engine.ingest(page, true);
    found += page.length;
  }
  if (events !== undefined && found < events) {
    throw new Error(
      `only ${found} of the ${events} events of seqs ${fromSeq + 1}..${toSeq} are still stored (dropped?)`,
    );
  }
  return engine.takeFlush().batch;
}

function rangeOf(letter: DeadLetter): { fromSeq: number; toSeq: number; events?: number } {
  const p = letter.payload as Partial<RollupRangePayload> & { seq?: number };
  if (letter.kind === "event" && typeof p?.seq === "number") {
    return { fromSeq: p.seq - 1, toSeq: p.seq, events: 1 };
  }
  if (letter.kind === "rollup-flush" && typeof p?.fromSeq === "number" && typeof p?.toSeq === "number") {
    return {
      fromSeq: p.fromSeq,
      toSeq: p.toSeq,
      events: typeof p.events === "number" ? p.events : undefined,
    };
  }
  throw new Error(`dead letter ${letter.id} is not a rollup range`);
}

/** An error and its cause (the driver's message, which a dead letter should keep). */
export function reasonOf(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const text = error instanceof Error ? error.message : String(error);
  if (cause === undefined) return text;
  return `${text} (${cause instanceof Error ? cause.message : String(cause)})`;
}
