/**
 * The simulator's events (`bench/simulate.ts`): N devices with realistic signals — a sine per device
 * and event type plus Gaussian noise and rare spikes — and configurable shares of invalid, late and
 * duplicate events. A duplicate is an exact resend: an event the server already accepted, sent
 * again with the same id and the same payload. No I/O and no runtime APIs; randomness is injected
 * so tests can seed it.
 */

/** What an event is meant to be; the server's answer says what it became. */
export type EventKind = "valid" | "late" | "invalid" | "duplicate";

export interface TrafficOptions {
  devices: number;
  /** Shares from 0 to 1 of the events that are invalid, exact resends and late (1–11 minutes old). */
  shares: { invalid: number; duplicate: number; late: number };
  /** Uniform in [0, 1) (default Math.random). */
  random?: () => number;
}

/** Signal shape per event type: base, amplitude, period (s), noise, spike size. */
const TYPES = [
  { type: "temperature", base: 21, amp: 4, period: 300, noise: 0.3, spike: 15 },
  { type: "humidity", base: 45, amp: 10, period: 600, noise: 1, spike: 30 },
  { type: "power", base: 1200, amp: 400, period: 120, noise: 40, spike: 2500 },
  { type: "latency", base: 80, amp: 30, period: 60, noise: 10, spike: 900 },
];
const SITES = ["berlin", "paris", "lisbon", "oslo"];
/** Accepted events remembered for resending. */
const REMEMBERED = 1000;

export class Traffic {
  readonly #random: () => number;
  readonly #phase: number[];
  /** Events the server accepted, to be resent as duplicates (a ring of REMEMBERED). */
  readonly #accepted: Record<string, unknown>[] = [];
  #seq = 0;

  constructor(private readonly options: TrafficOptions) {
    this.#random = options.random ?? Math.random;
    this.#phase = Array.from({ length: options.devices }, () => this.#random() * Math.PI * 2);
  }

  /** The next event at epoch ms `now`, and its kind (a duplicate is valid until one was accepted). */
  next(now: number): { event: Record<string, unknown>; kind: EventKind } {
    const random = this.#random;
    const { invalid, duplicate, late } = this.options.shares;
    const d = Math.floor(random() * this.options.devices);
    const t = TYPES[Math.floor(random() * TYPES.length)];
    const r = random();
    if (r < invalid) {
      const event = random() < 0.5
        ? { deviceId: "", eventType: t.type, value: 1 }
        : { deviceId: `sim-${d}`, eventType: t.type, value: "NaN" };
      return { event, kind: "invalid" };
    }
    if (r < invalid + duplicate && this.#accepted.length > 0) {
      return { event: this.#accepted[Math.floor(random() * this.#accepted.length)], kind: "duplicate" };
    }
    const isLate = random() < late;
    const ts = isLate ? now - 60_000 - random() * 600_000 : now;
    const value = t.base + t.amp * Math.sin((2 * Math.PI * ts) / (t.period * 1000) + this.#phase[d]) +
      t.noise * this.#gaussian() + (random() < 0.003 ? t.spike : 0);
    const event = {
      id: `sim-${now.toString(36)}-${(this.#seq++).toString(36)}`,
      deviceId: `sim-${d}`,
      eventType: t.type,
      value: Math.round(value * 100) / 100,
      timestamp: Math.round(ts),
      metadata: { site: SITES[d % SITES.length] },
      ...(t.type === "latency"
        ? { data: { path: ["/", "/api", "/login"][d % 3], status: value > 500 ? 503 : 200 } }
        : {}),
    };
    return { event, kind: isLate ? "late" : "valid" };
  }

  /** The server accepted `event`: it may be resent, exactly, as a duplicate. */
  accepted(event: Record<string, unknown>): void {
    if (this.#accepted.length < REMEMBERED) this.#accepted.push(event);
    else this.#accepted[Math.floor(this.#random() * REMEMBERED)] = event;
  }

  #gaussian(): number {
    return Math.sqrt(-2 * Math.log(1 - this.#random())) * Math.cos(2 * Math.PI * this.#random());
  }
}
