/**
 * Webhook delivery from the outbox, off the ingest path: each tick picks the
 * `pending` items that are due and POSTs their payload, at most
 * `concurrency` at a time, each with a timeout. Every attempt of an item
 * carries the same id in `Idempotency-Key` and `X-PulseStream-Notification-Id`,
 * so a receiver can drop repeats (delivery is at least once: an attempt may
 * succeed at the receiver and still be retried after a crash or timeout).
 * A failed attempt is retried after an exponential backoff with jitter; after
 * `maxAttempts` the item is kept with status `dead`.
 */
import type { Clock } from "../clock.ts";
import type { AlertStore } from "../store/alert-store.ts";
import type { AlertCatalog } from "./catalog.ts";
import type { OutboxItem } from "./model.ts";
import type { Network } from "./webhook-address.ts";
import { resolveTarget, WebhookAddressError, type WebhookClient } from "./webhook-client.ts";
import { hostAllowed, type HostAllowList } from "./webhook-hosts.ts";

export interface DeliveryOptions {
  store: AlertStore;
  catalog: AlertCatalog;
  clock: Clock;
  /** Resolves hosts and sends to a checked address (backend/adapters/webhook-client.ts). */
  client: WebhookClient;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxAttempts: number;
  concurrency: number;
  /** Most attempts in flight to one receiver (a hanging receiver cannot hold every slot). */
  perReceiver: number;
  /** Hosts that may be called (checked again at every attempt: the list may have changed since). */
  allowedHosts: HostAllowList;
  /** Denied ranges (loopback, private, …) opted back in (`ALERTS_WEBHOOK_ALLOWED_NETWORKS`). */
  allowedNetworks: readonly Network[];
  /** Stores an item given up (status `dead`); the notifier also restores its group's record. */
  onDead: (item: OutboxItem) => Promise<void>;
  /** [0, 1) (injected for tests). */
  random: () => number;
  onError: (message: string, fields: Record<string, unknown>) => void;
  /** Called once an item gave up (`dead`) is stored as such: the dead-letter hand-off. */
  onDeadLetter?: (item: OutboxItem) => Promise<unknown>;
}

/** Outcomes since start. */
export interface DeliveryCounters {
  /** Notifications delivered (2xx). */
  sent: number;
  /** Attempts that failed (non-2xx, timeout, network error). */
  failed: number;
  /** Attempts that were retries of an earlier failed attempt. */
  retried: number;
  /** Notifications given up after `maxAttempts`. */
  dead: number;
}

/** The wait before attempt `attempt + 1` after `attempt` failures: base·2^(attempt-1), capped, with ±50% jitter. */
export function backoffMs(attempt: number, base: number, max: number, random: number): number {
  const exp = Math.min(max, base * 2 ** Math.min(30, attempt - 1));
  return Math.round(exp * (0.5 + random));
}

export class OutboxDelivery {
  readonly counters: DeliveryCounters = { sent: 0, failed: 0, retried: 0, dead: 0 };
  readonly #o: DeliveryOptions;
  readonly #inFlight = new Map<string, { item: OutboxItem; done: Promise<void> }>();
  readonly #closing = new AbortController();

  constructor(options: DeliveryOptions) {
    this.#o = options;
  }

  /** Starts attempts for due items; resolves when they are started (not finished). */
  async tick(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    const free = this.#o.concurrency - this.#inFlight.size;
    if (free <= 0) return;
    // More than the free slots: items of a receiver at its limit, or of a group with an attempt in
    // flight (its items go out one at a time, in order), are passed over.
    const due = await this.#o.store.listOutbox({
      statuses: ["pending"],
      dueBy: this.#o.clock.now(),
      limit: this.#o.concurrency * 8 + this.#inFlight.size,
    });
    const perReceiver = new Map<string, number>();
    const groups = new Set<string>();
    for (const { item } of this.#inFlight.values()) {
      perReceiver.set(item.receiverId, (perReceiver.get(item.receiverId) ?? 0) + 1);
      groups.add(`${item.receiverId}\u0000${item.groupKey}`);
    }
    for (const item of due) {
      if (this.#inFlight.size >= this.#o.concurrency) break;
      const group = `${item.receiverId}\u0000${item.groupKey}`;
      const n = perReceiver.get(item.receiverId) ?? 0;
      if (this.#inFlight.has(item.id) || groups.has(group) || n >= this.#o.perReceiver) continue;
      perReceiver.set(item.receiverId, n + 1);
      groups.add(group);
      const p = this.#attempt(item).finally(() => this.#inFlight.delete(item.id));
      this.#inFlight.set(item.id, { item, done: p });
    }
  }

  /** Resolves when every attempt in flight has finished. */
  async idle(): Promise<void> {
    await Promise.all([...this.#inFlight.values()].map((f) => f.done));
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Aborts attempts in flight and waits for them: an aborted attempt is not counted and its item
   * stays as it was in the store (pending), so it is sent again after the restart.
   */
  async close(): Promise<void> {
    this.#closing.abort();
    await this.idle();
  }

  async #attempt(item: OutboxItem): Promise<void> {
    const { clock, store } = this.#o;
    const receiver = this.#o.catalog.receivers.get(item.receiverId);
    let error: string | null = null;
    let cause: string | null = null;
    // Neither of these changes by retrying: the item goes dead at once.
    if (!receiver) error = "receiver was deleted";
    else if (!hostAllowed(new URL(receiver.url), this.#o.allowedHosts)) error = "receiver host not allowed";
    const final = error !== null;
    if (!final) {
      try {
        // Every address of the host is checked, and the request connects to a checked one.
        const target = await resolveTarget(new URL(receiver!.url), this.#o.client, this.#o.allowedNetworks);
        const status = await this.#o.client.post(target, {
          headers: {
            "content-type": "application/json",
            "idempotency-key": item.id,
            "x-pulsestream-notification-id": item.id,
            "user-agent": "PulseStream-Alerting",
          },
          body: item.payload ?? "",
          signal: AbortSignal.any([AbortSignal.timeout(this.#o.timeoutMs), this.#closing.signal]),
        });
        // Redirects are not followed (a 3xx is a failure): a receiver cannot bounce the request
        // to an address that was not checked.
        if (status < 200 || status > 299) (error = "failed"), (cause = `receiver answered ${status}`);
      } catch (e) {
        // Stored and shown as "failed" only: the status, a refused address, a timeout or the
        // network cause (connection refused, unknown host) would make /notifications a probe of
        // the network; the log has it.
        error = "failed";
        cause = e instanceof WebhookAddressError
          ? `address not allowed: ${e.message}`
          : e instanceof Error && e.name === "TimeoutError"
          ? `no answer within ${this.#o.timeoutMs} ms`
          : `request failed: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    if (this.#closing.signal.aborted) return;
    const now = clock.now();
    const attempts = item.attempts + 1;
    if (item.attempts > 0) this.counters.retried++;
    let next: OutboxItem;
    if (error === null) {
      this.counters.sent++;
      next = { ...item, status: "sent", attempts, lastError: null, updatedAt: now };
    } else {
      this.counters.failed++;
      const dead = attempts >= this.#o.maxAttempts || final;
      if (dead) this.counters.dead++;
      const wait = backoffMs(attempts, this.#o.retryBaseMs, this.#o.retryMaxMs, this.#o.random());
      next = {
        ...item,
        status: dead ? "dead" : "pending",
        attempts,
        lastError: error,
        dueAt: dead ? item.dueAt : now + wait,
        updatedAt: now,
      };
      this.#o.onError("notification attempt failed", {
        notificationId: item.id,
        receiverId: item.receiverId,
        attempt: attempts,
        error,
        ...(cause === null ? {} : { cause }),
        dead,
      });
    }
    try {
      // A superseded item (skipped meanwhile) stays skipped.
      if (next.status === "dead") {
        await this.#o.onDead(next);
        await this.#o.onDeadLetter?.(next).catch((e) =>
          this.#o.onError("dead notification not kept as a dead letter", {
            notificationId: item.id,
            error: String(e),
          })
        );
      } else await store.updateOutbox(next, undefined, { onlyIfStatus: "pending" });
    } catch (e) {
      // The item stays pending in the store and is attempted again: at least once, never lost.
      this.#o.onError("outbox update failed", { notificationId: item.id, error: String(e) });
    }
  }
}
