/**
 * Bulk import from the command line: streams a file to a running server's
 * `POST /v1/import` (only the server writes events: it assigns commit seqs and
 * keeps the rollups) and prints the job's progress from `GET /v1/import/:id`
 * every second, on stderr. The final job is printed as JSON on stdout.
 *
 *   npm run import -- <file> [--url http://127.0.0.1:8000] [--key KEY]
 *     [--format csv|ndjson|json] [--gzip] [--map deviceId=<column> ...]
 *     [--metadata a,b] [--event-type <type>]
 *
 * The key comes from `--key` or `PULSESTREAM_API_KEY`; it needs the `ingest`
 * scope, and `read` too for progress lines. The format follows the file name
 * (`.csv`, `.ndjson`/`.jsonl`, `.json`, each optionally `.gz`) unless given.
 * Exit status: 0 completed, 2 completed with rejected lines, 1 failed; a command-line mistake
 * prints one line and the usage and exits 2 (`--help` prints the usage and exits 0).
 */
import { parseCommandLine, usageError } from "./usage.ts";

const USAGE =
  `usage: import <file> [--url http://127.0.0.1:8000] [--key KEY] [--format csv|ndjson|json] [--gzip]
         [--map deviceId|eventType|value|timestamp|id=<column> ...] [--metadata a,b] [--event-type <type>]
       import --help

Streams <file> to a running server's POST /v1/import and prints the job's progress (stderr)
and the final job as JSON (stdout).
  --url         the server (default http://127.0.0.1:8000)
  --key         an API key with the ingest scope (and read, for progress); default PULSESTREAM_API_KEY
  --format      csv, ndjson or json (default: from the file name, .gz included)
  --gzip        the file is gzipped (default: a .gz name)
  --map         CSV: the column of deviceId, eventType, value, timestamp or id (repeatable)
  --metadata    CSV: columns to keep as metadata, comma-separated
  --event-type  CSV: the event type of every row
Exit status: 0 completed, 1 failed, 2 completed with rejected lines or a command-line mistake.`;
const CONTENT_TYPES = { csv: "text/csv", ndjson: "application/x-ndjson", json: "application/json" };
type Format = keyof typeof CONTENT_TYPES;
const MAPPABLE = ["deviceId", "eventType", "value", "timestamp", "id"];

interface JobView {
  id: string;
  state: string;
  bytesRead: number;
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
}

function fail(message: string): never {
  console.error(message);
  Deno.exit(1);
}

const { values, positionals } = parseCommandLine(USAGE, {
  url: { type: "string", default: "http://127.0.0.1:8000" },
  key: { type: "string" },
  format: { type: "string" },
  gzip: { type: "boolean", default: false },
  map: { type: "string", multiple: true, default: [] },
  metadata: { type: "string" },
  "event-type": { type: "string" },
});
const [file] = positionals;
if (!file) usageError("a file is needed", USAGE);
if (positionals.length > 1) usageError(`unexpected argument: ${positionals[1]}`, USAGE);
const key = values.key ?? Deno.env.get("PULSESTREAM_API_KEY");
if (!key) fail("an API key is needed: --key or PULSESTREAM_API_KEY");

const name = file.toLowerCase();
const gzip = values.gzip || name.endsWith(".gz");
const base = name.replace(/\.gz$/, "");
const format = values.format ??
  (base.endsWith(".csv")
    ? "csv"
    : /\.(ndjson|jsonl)$/.test(base)
    ? "ndjson"
    : base.endsWith(".json")
    ? "json"
    : "");
if (!(format in CONTENT_TYPES)) {
  usageError("cannot tell the format from the file name: pass --format csv|ndjson|json", USAGE);
}

const query = new URLSearchParams();
for (const pair of values.map) {
  const [field, column] = [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)];
  if (!MAPPABLE.includes(field) || !column || !pair.includes("=")) {
    usageError(`--map takes <field>=<column>, field one of ${MAPPABLE.join(", ")}`, USAGE);
  }
  query.set(`${field}Column`, column);
}
if (values.metadata) query.set("metadataColumns", values.metadata);
if (values["event-type"]) query.set("eventType", values["event-type"]);
if (format !== "csv" && [...query.keys()].length) {
  usageError("--map, --metadata and --event-type apply to CSV files only", USAGE);
}

const importId = `imp_${
  Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("")
}`;
const base_url = values.url.replace(/\/+$/, "");
let handle: Deno.FsFile;
try {
  handle = await Deno.open(file);
} catch (error) {
  fail(`cannot open ${file}: ${(error as Error).message}`);
}
const size = (await handle.stat()).size;

const headers: Record<string, string> = {
  "x-api-key": key,
  "content-type": CONTENT_TYPES[format as Format],
  "import-id": importId,
};
if (gzip) headers["content-encoding"] = "gzip";

let done = false;
const progress = watch();
let response: Response;
try {
  response = await fetch(`${base_url}/v1/import${query.size ? `?${query}` : ""}`, {
    method: "POST",
    headers,
    body: handle.readable,
  });
} catch (error) {
  done = true;
  fail(`cannot reach ${base_url}: ${(error as Error).message}`);
}
done = true;
await progress;
const body = await response.json().catch(() => ({ message: `HTTP ${response.status}` }));
if (response.status !== 201) {
  const details = (body.errors ?? []).map((e: { field: string; message: string }) =>
    `  ${e.field}: ${e.message}`
  );
  fail([`import ${importId} failed (HTTP ${response.status}): ${body.message}`, ...details].join("\n"));
}
console.log(JSON.stringify(body.data, null, 2));
Deno.exit(body.data.rejected > 0 ? 2 : 0);

/** Prints the job's progress every second until the upload ends. */
async function watch(): Promise<void> {
  const terminal = Deno.stderr.isTerminal();
  while (!done) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (done) break;
    const res = await fetch(`${base_url}/v1/import/${importId}`, { headers: { "x-api-key": key! } }).catch(
      () => null,
    );
    if (res?.status === 403) {
      console.error("(no progress shown: the key lacks the read scope)");
      await res.body?.cancel();
      return;
    }
    if (!res?.ok) {
      await res?.body?.cancel();
      continue;
    }
    const job: JobView = (await res.json()).data;
    const percent = size > 0 ? ` ${Math.min(100, Math.floor((job.bytesRead / size) * 100))}%` : "";
    const line = `${job.id}${percent} ${(job.bytesRead / 1e6).toFixed(1)}/${(size / 1e6).toFixed(1)} MB, ` +
      `${job.lines} lines: ${job.accepted} accepted, ${job.duplicates} duplicates, ${job.rejected} rejected`;
    if (terminal) Deno.stderr.writeSync(new TextEncoder().encode(`\r${line}\x1b[K`));
    else console.error(line);
  }
  if (terminal) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
}
