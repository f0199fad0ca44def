/**
 * Ingestion: validate → enrich → group-commit. Every path that takes events in
 * (HTTP today; WebSocket and import later) goes through `ingestEvents`, so they
 * share validation, limits and dedup. Valid items are committed even when
 * others in the same request are rejected; an item is reported `accepted` only
 * after its transaction committed.
 */
import { uuidv7 } from "uuidv7";
import type { EnrichedEvent, ValidEvent } from "../../shared/event.ts";
import type { EventValidator, FieldError } from "../../shared/event-schema.ts";
import { partitionOf } from "../../shared/partition.ts";
import type { Clock } from "../clock.ts";
import type { GroupCommitter } from "./group-committer.ts";
import { type CommitOutcome, type IdempotencyRecord, StalePredictionError } from "../store/store.ts";
import { type IngestOutcomes, NO_OUTCOMES, rejectReason } from "../observability/ingest-outcomes.ts";
import { OverloadedError, UnauthorizedError } from "../errors.ts";

/** The result of one item of a request, in request order. */
export interface ItemResult {
  index: number;
  /** The event id (client-chosen or generated); absent for a rejected item without a usable id. */
  id?: string;
  status: "accepted" | "duplicate" | "rejected";
  /** First problem of a rejected item, as one line. */
  error?: string;
  /** Every bad field of a rejected item. */
  errors?: FieldError[];
}

export interface IngestTotals {
  received: number;
  accepted: number;
  duplicate: number;
  rejected: number;
}

export interface IngestResult {
  results: ItemResult[];
  totals: IngestTotals;
  /** The committed events by index (accepted or duplicate), for responses and fan-out. */
  events: Map<number, EnrichedEvent>;
}

/** Dependencies of the ingest service. */
export interface IngestDeps {
  validator: EventValidator;
  committer: GroupCommitter;
  clock: Clock;
  partitions: number;
  /** Counts each item's outcome (`pulsestream_events_total` of this transport). */
  outcomes?: IngestOutcomes;
}

const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;

/**
 * Validates, enriches and durably commits `items`.
 * `idempotencyKey`: for a request of one event without `id`, a valid key becomes the event id
 * (PulseStream's rule). `derivedIdPrefix`: other events without `id` (batch items, and a single
 * event whose key is not a valid id) get `<prefix><index>`, so a replayed request maps to the same
 * ids and cannot be stored twice.
 */
export async function ingestEvents(
  deps: IngestDeps,
  params: {
    items: readonly unknown[];
    single: boolean;
    idempotencyKey?: string | null;
    derivedIdPrefix?: string;
    maxIdLength: number;
    /** The API key the events come in with: they commit only while it is active. */
    keyId?: string;
    /** A retry of a request whose rejected items were counted by its first attempt. */
    rejectedCounted?: boolean;
  },
  remember?: RememberOutcome,
): Promise<IngestResult & { remembered: boolean }> {
  const now = deps.clock.now();
  const results: ItemResult[] = new Array(params.items.length);
  const toCommit: EnrichedEvent[] = [];
  const indexes: number[] = [];
  params.items.forEach((item, index) => {
    if (isUnparsable(item)) {
      results[index] = {
        index,
        status: "rejected",
        error: item.unparsable,
        errors: [{ field: "event", message: item.unparsable }],
      };
      return;
    }
    const checked = deps.validator.validate(item, now);
    if (!checked.ok) {
      const id = (item as { id?: unknown } | null)?.id;
      results[index] = {
        index,
        ...(typeof id === "string" && ID_PATTERN.test(id) && id.length <= params.maxIdLength ? { id } : {}),
        status: "rejected",
        error: `${checked.errors[0].field}: ${checked.errors[0].message}`,
        errors: checked.errors,
      };
      return;
    }
    const key = params.idempotencyKey;
    const fallbackId = params.single && key && ID_PATTERN.test(key) && key.length <= params.maxIdLength
      ? key
      : params.derivedIdPrefix !== undefined
      ? `${params.derivedIdPrefix}${index}`
      : undefined;
    toCommit.push(enrich(checked.event, { now, partitions: deps.partitions, fallbackId }));
    indexes.push(index);
  });

  const counted = deps.outcomes ?? NO_OUTCOMES;
  if (toCommit.length < results.length && !params.rejectedCounted) countRejected(counted, results);

  let records: IdempotencyRecord[] = [];
  let predicted: CommitOutcome[] | null = null;
  let predictedResult: IngestResult | null = null;
  if (remember) {
    // The outcome to remember is rendered from predicted per-event outcomes so that its record
    // commits in the same transaction as the events (one commit round, and atomic with them).
    // Without `existingIds` the prediction is that every id is new, and the commit checks it.
    const ids = toCommit.map((e) => e.id);
    predicted = predictOutcomes(toCommit, remember.existingIds ? await remember.existingIds(ids) : new Set());
    predictedResult = assemble(results, toCommit, indexes, predicted);
    const record = remember.record(predictedResult);
    if (!remember.existingIds) record.predictedNewIds = ids.length > 1 ? [...new Set(ids)] : ids;
    records = [record];
  }
  let outcomes: CommitOutcome[];
  try {
    outcomes = await deps.committer.submit(toCommit, records, params.keyId);
  } catch (error) {
    if (error instanceof StalePredictionError) throw error; // the caller retries; nothing happened
    // A key revoked while the request waited is the caller's problem (401), not a failure.
    if (!(error instanceof UnauthorizedError)) {
      (error instanceof OverloadedError ? counted.overloaded : counted.failed).inc(toCommit.length);
    }
    throw error;
  }
  const remembered = predicted !== null && predicted.every((o, i) => o === outcomes[i]);
  const result = remembered ? predictedResult! : assemble(results, toCommit, indexes, outcomes);
  counted.accepted.inc(result.totals.accepted);
  counted.duplicate.inc(result.totals.duplicate);
  return { ...result, remembered };
}

/**
 * Renders and keeps the outcome of an idempotent request: `existingIds` reads which ids are
 * already stored (absent: predict that none is, checked by the commit, which rejects with
 * `StalePredictionError` when wrong), `record` renders the outcome (throwing for a non-2xx one,
 * which is then neither committed nor remembered).
 */
export interface RememberOutcome {
  existingIds?(ids: readonly string[]): Promise<Set<string>>;
  record(result: IngestResult): IdempotencyRecord;
}

function countRejected(outcomes: IngestOutcomes, results: readonly (ItemResult | undefined)[]): void {
  for (const r of results) {
    if (r?.status === "rejected") outcomes.rejected(rejectReason(r.errors?.[0]?.field)).inc();
  }
}

/** Outcomes a commit will have, given the ids already stored: the first of each id is accepted. */
function predictOutcomes(events: readonly EnrichedEvent[], existing: Set<string>): CommitOutcome[] {
  const seen = new Set(existing);
  return events.map((e) => {
    if (seen.has(e.id)) return "duplicate";
    seen.add(e.id);
    return "accepted";
  });
}

function assemble(
  rejected: readonly ItemResult[],
  toCommit: readonly EnrichedEvent[],
  indexes: readonly number[],
  outcomes: readonly CommitOutcome[],
): IngestResult {
  const results = [...rejected];
  const events = new Map<number, EnrichedEvent>();
  outcomes.forEach((outcome, i) => {
    const index = indexes[i];
    results[index] = { index, id: toCommit[i].id, status: outcome };
    events.set(index, toCommit[i]);
  });

  const totals: IngestTotals = { received: results.length, accepted: 0, duplicate: 0, rejected: 0 };
  for (const r of results) totals[r.status]++;
  return { results, totals, events };
}

/** Fills in id (UUIDv7 unless given), receive time, default event time and partition. */
export function enrich(
  event: ValidEvent,
  options: { now: number; partitions: number; fallbackId?: string },
): EnrichedEvent {
  return {
    id: event.id ?? options.fallbackId ?? uuidv7(),
    deviceId: event.deviceId,
    eventType: event.eventType,
    value: event.value ?? null,
    timestamp: event.timestamp ?? options.now,
    receivedAt: options.now,
    partition: partitionOf(event.deviceId, options.partitions),
    metadata: event.metadata ?? null,
    data: event.data ?? null,
  };
}

/** Marks an item that failed to parse; created by the transport layer. */
export class UnparsableMarker {
  constructor(readonly unparsable: string) {}
}

function isUnparsable(item: unknown): item is UnparsableMarker {
  return item instanceof UnparsableMarker;
}
