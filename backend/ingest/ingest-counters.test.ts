import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.ts";
import { Observability } from "../observability/observability.ts";
import { IngestCounters } from "./ingest-counters.ts";

const logger = createLogger("silent");
const commit = (events: number, ok = true) => ({ events, requests: 1, durationMs: 1, ok });

describe("IngestCounters", () => {
  it("sums pulsestream_events_total over the transports by outcome, every reject reason included", () => {
    const obs = new Observability({ enabled: true, logger });
    obs.ingest.http.accepted.inc(3);
    obs.ingest.websocket.accepted.inc(2);
    obs.ingest.import.duplicate.inc(1);
    obs.ingest.http.rejected("value").inc(2);
    obs.ingest.import.rejected("too_large").inc(5);
    obs.ingest.websocket.rateLimited.inc(4);
    obs.ingest.http.overloaded.inc(7); // not a stats figure
    obs.ingest.import.failed.inc(1); // nor this
    expect(new IngestCounters(obs.registry).read()).toEqual({
      accepted: 5,
      duplicate: 1,
      rejected: 7,
      rateLimited: 4,
      commits: 0,
      lastCommitEvents: 0,
      meanCommitEvents: 0,
    });
  });

  it("reads commit sizes from pulsestream_commit_batch_events: since the previous reading, and since start", () => {
    const obs = new Observability({ enabled: true, logger });
    const counters = new IngestCounters(obs.registry);
    obs.onCommit(commit(4));
    obs.onCommit(commit(2));
    expect(counters.read()).toMatchObject({ commits: 2, lastCommitEvents: 3, meanCommitEvents: 3 });
    obs.onCommit(commit(10, false)); // a failed transaction is a commit of the histogram too
    expect(counters.read()).toMatchObject({ commits: 3, lastCommitEvents: 10, meanCommitEvents: 5.3 });
    expect(counters.read()).toMatchObject({ commits: 3, lastCommitEvents: 10, meanCommitEvents: 5.3 });
  });

  it("is null when instrumentation is off (the registry keeps nothing)", () => {
    const obs = new Observability({ enabled: false, logger });
    obs.ingest.http.accepted.inc(3);
    obs.onCommit(commit(3));
    expect(new IngestCounters(obs.registry).read()).toBeNull();
  });
});
