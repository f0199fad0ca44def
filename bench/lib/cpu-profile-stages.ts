/**
 * Summarises V8 CPU profiles (`.cpuprofile`, as written by `deno run --cpu-prof`) of a PulseStream
 * server by ingest stage: every sample's self time goes to the first stage rule that matches its
 * call stack (rules in priority order, so SQLite work under a rollup flush counts as flush, not as
 * commit). A profile of the SQLite writer worker (recognised by its script) counts as one stage.
 */

interface Frame {
  functionName: string;
  url: string;
}

interface ProfileNode {
  id: number;
  callFrame: Frame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one stage and its heaviest functions, microseconds. */
export interface StageTime {
  stage: string;
  us: number;
  top: { name: string; us: number }[];
}

export interface ProfileSummary {
  /** Sampled busy time (idle excluded), microseconds, over all profiles. */
  busyUs: number;
  stages: StageTime[];
}

type Rule = [stage: string, match: (f: Frame) => boolean];

const file = (name: string) => (f: Frame) => f.url.includes(name);
const fn = (path: string, name: string) => (f: Frame) => f.url.includes(path) && f.functionName === name;

/** Stage rules, first match over the whole stack wins. */
const RULES: Rule[] = [
  ["corrections (settle flushed windows, announce)", fn("stream/flush-handoff.ts", "settleFlushed")],
  [
    "rollup flush (take deltas, merge into stored rollups)",
    (f) =>
      fn("stream/stream-service.ts", "flush")(f) || fn("stream/engine.ts", "takeFlush")(f) ||
      file("sqlite/sqlite-rollups.ts")(f) || file("sqlite/rollup-layout.ts")(f),
  ],
  ["engine tick (fold pending cells, close windows)", fn("stream/engine.ts", "tick")],
  [
    "engine ingest (index committed events, late cells)",
    (f) => fn("stream/engine.ts", "ingest")(f) || fn("stream/stream-service.ts", "onCommitted")(f),
  ],
  ["other stream engine", file("/backend/stream/")],
  ["validate (zod, event schema)", (f) => file("shared/event-schema.ts")(f) || file("/zod/")(f)],
  ["body read + JSON.parse", file("backend/http/body.ts")],
  ["enrich (ids, receive time, partition)", fn("ingest/ingest-service.ts", "enrich")],
  ["idempotency / id claims", file("ingest/idempotency.ts")],
  [
    "group commit, main thread (encode rows, hand to writer)",
    (f) => file("ingest/group-committer.ts")(f) || file("backend/store/")(f) || file("adapters/sqlite/")(f),
  ],
  ["ingest service (other)", file("ingest/")],
  ["events route (render JSON response)", file("http/events-routes.ts")],
  ["other server code", file("/backend/")],
  ["Hono routing + middleware", file("/hono/")],
  [
    "Deno runtime (HTTP server, streams, fetch)",
    (f) => f.url.startsWith("ext:") || f.url.startsWith("node:"),
  ],
];

const WORKER_STAGE = "SQLite writer worker (its own thread)";

function frameName(f: Frame): string {
  const where = f.url ? ` ${f.url.replace(/^.*\/(backend|shared|node_modules)\//, "$1/")}` : "";
  return `${f.functionName || "(anonymous)"}${where}`;
}

function addTo(stages: Map<string, Map<string, number>>, stage: string, name: string, us: number) {
  let byName = stages.get(stage);
  if (!byName) stages.set(stage, byName = new Map());
  byName.set(name, (byName.get(name) ?? 0) + us);
}

/** Adds one profile's samples to `stages`; returns its busy microseconds. */
function addProfile(profile: CpuProfile, stages: Map<string, Map<string, number>>): number {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isWorker = profile.nodes.some((n) => n.callFrame.url.includes("writer-worker"));
  const stageOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = stageOf.get(id);
    if (known) return known;
    const leaf = byId.get(id)!.callFrame;
    let stage: string;
    // A worker blocked waiting for its next message samples as this op: waiting, not work.
    if (leaf.functionName === "(idle)" || leaf.functionName === "op_worker_maybe_wait_for_debugger") {
      stage = "idle";
    } else if (leaf.functionName === "(garbage collector)") stage = "garbage collector";
    else if (isWorker) stage = WORKER_STAGE;
    else if (leaf.functionName === "(program)") stage = "V8 / runtime native (program)";
    else {
      const stack: Frame[] = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        stack.push(byId.get(at)!.callFrame);
      }
      stage = RULES.find(([, match]) => stack.some(match))?.[0] ?? "other";
    }
    stageOf.set(id, stage);
    return stage;
  };
  let busy = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // A delta is the time before its sample; the time a sample stands for is the next delta.
    const us = Math.max(0, timeDeltas[i + 1] ?? timeDeltas[i] ?? 0);
    const stage = classify(samples[i]);
    if (stage === "idle") continue;
    busy += us;
    addTo(stages, stage, frameName(byId.get(samples[i])!.callFrame), us);
  }
  return busy;
}

/** Reads every `.cpuprofile` in `dir` and sums them by stage, heaviest first. */
export function summariseProfiles(dir: string, topPerStage = 3): ProfileSummary {
  const stages = new Map<string, Map<string, number>>();
  let busyUs = 0;
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.endsWith(".cpuprofile")) continue;
    busyUs += addProfile(JSON.parse(Deno.readTextFileSync(`${dir}/${entry.name}`)), stages);
  }
  const result: StageTime[] = [...stages].map(([stage, byName]) => {
    const top = [...byName].map(([name, us]) => ({ name, us })).sort((a, b) => b.us - a.us);
    return { stage, us: top.reduce((s, t) => s + t.us, 0), top: top.slice(0, topPerStage) };
  });
  return { busyUs, stages: result.sort((a, b) => b.us - a.us) };
}
