/**
 * The inputs of system rules, sampled from counters the server already has:
 * `error_rate` is the share of HTTP responses with a 5xx status over the
 * window (0 without responses), `overload` the highest fill of the commit
 * queue (0–1) sampled in the window. Samples are taken on the evaluation
 * timer and kept for the longest window in use (bounded).
 */
import type { SystemMetric } from "./model.ts";

interface Sample {
  at: number;
  responses: number;
  errors: number;
  queueFill: number;
}

const MAX_SAMPLES = 100_000;

export class SystemSampler {
  #samples: Sample[] = [];
  #responses = 0;
  #errors = 0;

  constructor(private readonly queueFill: () => number, private readonly retainMs: number) {}

  /** Counts one HTTP response (a middleware calls it). */
  countResponse(status: number): void {
    this.#responses++;
    if (status >= 500) this.#errors++;
  }

  sample(at: number): void {
    this.#samples.push({ at, responses: this.#responses, errors: this.#errors, queueFill: this.queueFill() });
    const cutoff = at - this.retainMs;
    let drop = 0;
    while (drop < this.#samples.length - 1 && this.#samples[drop].at < cutoff) drop++;
    if (this.#samples.length - drop > MAX_SAMPLES) drop = this.#samples.length - MAX_SAMPLES;
    if (drop) this.#samples.splice(0, drop);
  }

  /** The metric over (at - windowMs, at], or null before two samples cover any of it. */
  read(metric: SystemMetric, windowMs: number, at: number): number | null {
    const inWindow = this.#samples.filter((s) => s.at > at - windowMs && s.at <= at);
    if (metric === "overload") return inWindow.length ? Math.max(...inWindow.map((s) => s.queueFill)) : null;
    const before = [...this.#samples].reverse().find((s) => s.at <= at - windowMs) ?? inWindow[0];
    const last = inWindow[inWindow.length - 1];
    if (!before || !last || before === last) return null;
    const responses = last.responses - before.responses;
    return responses === 0 ? 0 : (last.errors - before.errors) / responses;
  }
}
