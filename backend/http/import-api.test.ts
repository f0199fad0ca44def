/**
 * `POST /v1/import`: the formats (CSV with a column mapping, NDJSON, a JSON array, gzip), what is
 * rejected and reported by line, dedup across imports, historical timestamps, bad parameters and
 * scopes. Flow control and job status: `import-jobs.test.ts`.
 */
import { describe, expect, it } from "vitest";
import {
  CSV,
  encoder,
  gzip,
  HOUR,
  ID,
  jobOf,
  NDJSON,
  ndjson,
  NOW,
  withImport,
} from "../testing/import-fixture.ts";

describe("POST /v1/import", () => {
  it("imports CSV with a column mapping, rejects bad rows by line number and keeps the good ones", async () => {
    await withImport(async ({ f, post }) => {
      const csv = [
        "dev,kind,reading,time,site,floor,ignored",
        `d1,temp,21.5,${NOW - HOUR},berlin,2,x`,
        `d2,temp,abc,${NOW},paris,1,x`,
        `,temp,1,${NOW},paris,1,x`,
        "d3,temp,2",
        `d4,temp,,2026-11-22T11:00:00Z,,,`,
        `"d5, quoted",temp,-3e2,${NOW},"rome",007,x`,
      ].join("\r\n");
      const query = "?deviceIdColumn=dev&eventTypeColumn=kind&valueColumn=reading&timestampColumn=time" +
        "&metadataColumns=site,floor";
      const res = await post(csv, CSV, query);
      expect(res.status).toBe(201);
      const job = await jobOf(res);
      expect(job).toMatchObject({
        state: "completed",
        format: "csv",
        bytesRead: encoder.encode(csv).byteLength,
        lines: 6,
        accepted: 3,
        duplicates: 0,
        rejected: 3,
        failure: null,
        startedAt: "2026-11-22T12:00:00.000Z",
        finishedAt: "2026-11-22T12:00:00.000Z",
      });
      expect(job.id).toMatch(/^imp_[0-9a-f]{32}$/);
      expect(res.headers.get("import-id")).toBe(job.id);
      expect(job.errors).toEqual([
        { line: 3, field: "value", message: "value must be a finite number" },
        { line: 4, field: "deviceId", message: "deviceId must not be empty" },
        { line: 5, field: "event", message: "row has 3 columns, the header has 7" },
      ]);
      const events = await f.server.store.listEvents({ limit: 10 });
      expect(events.map((e) => [e.deviceId, e.value, e.timestamp, e.metadata])).toEqual([
        ["d5, quoted", -300, NOW, { site: "rome", floor: "007" }],
        ["d4", null, NOW - HOUR, null],
        ["d1", 21.5, NOW - HOUR, { site: "berlin", floor: 2 }],
      ]);
      expect(events.every((e) => /^imp-[0-9a-f]{32}$/.test(e.id))).toBe(true);
    });
  });

  it("takes one event type for every row from eventType= and keeps ids from the id column", async () => {
    await withImport(async ({ f, post }) => {
      const res = await post("deviceId,id,value\nd1,row-1,1\nd2,,2\n", CSV, "?eventType=power");
      expect(await jobOf(res)).toMatchObject({ accepted: 2, rejected: 0, lines: 2 });
      expect(await f.server.store.getEvent("row-1")).toMatchObject({ deviceId: "d1", eventType: "power" });
    });
  });

  it("imports NDJSON, rejecting malformed, unknown-field and invalid UTF-8 lines with their numbers", async () => {
    await withImport(async ({ f, post }) => {
      const body = new Uint8Array([
        ...encoder.encode(ndjson([
          { id: "n1", deviceId: "d1", eventType: "t", value: 1 },
          "",
          "{bad json",
          { deviceId: "d2", eventType: "t", extra: 1 },
          { deviceId: "d3", eventType: "t", timestamp: NOW - 2 * HOUR },
        ])),
        ...encoder.encode('\n{"deviceId":"d\xff'),
        0xff,
        ...encoder.encode('","eventType":"t"}\n  \n'),
      ]);
      const job = await jobOf(await post(body, NDJSON));
      expect(job).toMatchObject({ lines: 5, accepted: 2, rejected: 3, duplicates: 0 });
      expect(job.errors).toEqual([
        { line: 3, field: "event", message: "line is not valid JSON" },
        { line: 4, field: "extra", message: 'unknown field "extra"' },
        { line: 6, field: "event", message: "line is not valid UTF-8" },
      ]);
      expect(await f.server.store.getEvent("n1")).toMatchObject({ deviceId: "d1", value: 1 });
      expect((await f.server.store.stats()).events).toBe(2);
    });
  });

  it("imports a JSON array element by element, reporting bad elements by line and index", async () => {
    await withImport(async ({ f, post }) => {
      const body = '[\n{"deviceId":"d1","eventType":"t","value":1},\n  {"deviceId":"d2","eventType":5},' +
        '\n  5, {"deviceId":"d3","eventType":"t","data":{"s":"a,]}\\"["}}\n]\n';
      const job = await jobOf(await post(body, { "content-type": "application/json" }));
      expect(job).toMatchObject({ format: "json", lines: 4, accepted: 2, rejected: 2 });
      expect(job.errors).toEqual([
        { line: 3, index: 1, field: "eventType", message: "eventType must be a string" },
        { line: 4, index: 2, field: "event", message: "event must be a JSON object" },
      ]);
      const d3 = (await f.server.store.listEvents({ deviceId: "d3", limit: 1 }))[0];
      expect(d3.data).toEqual({ s: 'a,]}"[' });
    });
  });

  it("fails a JSON body that is not an array, or is truncated, with 400", async () => {
    await withImport(async ({ post }) => {
      const notArray = await post('{"deviceId":"d"}', { "content-type": "application/json" });
      expect(notArray.status).toBe(400);
      expect((await notArray.json()).errors).toEqual([{ field: "body", message: "expected a JSON array" }]);
      const truncated = await post('[{"deviceId":"d","eventType":"t"}, {"dev', {
        "content-type": "application/json",
      });
      expect(truncated.status).toBe(400);
      expect((await truncated.json()).errors).toEqual([
        { field: "body", message: "the array is not closed (truncated input?)" },
      ]);
    });
  });

  it("inflates a gzip body, and refuses a corrupt one with 400", async () => {
    await withImport(async ({ f, post }) => {
      const text = ndjson(
        Array.from({ length: 100 }, (_, i) => ({ deviceId: `d${i}`, eventType: "t", value: i })),
      );
      const compressed = await gzip(text);
      const res = await post(compressed, { ...NDJSON, "content-encoding": "gzip" });
      expect(await jobOf(res)).toMatchObject({ bytesRead: compressed.byteLength, lines: 100, accepted: 100 });
      expect((await f.server.store.stats()).events).toBe(100);
      const corrupt = await post(compressed.slice(0, 40), { ...NDJSON, "content-encoding": "gzip" });
      expect(corrupt.status).toBe(400);
      expect((await corrupt.json()).message).toBe("Request body is not valid gzip (corrupt or truncated)");
    });
  });

  it("stores nothing twice when the same file is imported again", async () => {
    await withImport(async ({ f, post }) => {
      const csv = "deviceId,eventType,value,timestamp\n" +
        Array.from({ length: 30 }, (_, i) => `d${i % 3},t,${i},${NOW - i * 1000}`).join("\n") +
        `\nd0,t,0,${NOW}\n`; // identical to the first data row: the same event
      expect(await jobOf(await post(csv, CSV))).toMatchObject({ lines: 31, accepted: 30, duplicates: 1 });
      expect(await jobOf(await post(csv, CSV))).toMatchObject({ lines: 31, accepted: 0, duplicates: 31 });
      expect((await f.server.store.stats()).events).toBe(30);
    }, { env: { MAX_EVENTS_PER_REQUEST: "7" } });
  });

  it("accepts historical timestamps within retention and counts them in the metrics", async () => {
    await withImport(async ({ f, post }) => {
      const threeDays = NOW - 72 * HOUR;
      const job = await jobOf(
        await post(
          ndjson([
            { deviceId: "d1", eventType: "old", value: 2, timestamp: threeDays },
            { deviceId: "d1", eventType: "old", value: 4, timestamp: threeDays + 1000 },
            { deviceId: "d1", eventType: "old", value: 8, timestamp: NOW - 8 * 24 * HOUR },
          ]),
          NDJSON,
        ),
      );
      expect(job).toMatchObject({ accepted: 2, rejected: 1 });
      expect(job.errors).toEqual([
        { line: 3, field: "timestamp", message: "timestamp is older than the retention window (7 d)" },
      ]);
      const metrics = await f.request(
        `/v1/metrics?eventType=old&from=${threeDays}&to=${threeDays + HOUR}&step=1h&agg=count,sum`,
      );
      expect((await metrics.json()).series[0].values).toEqual({ count: [2], sum: [6] });
    });
  });

  it("answers 415 for other content types and encodings, 400 for a CSV mapping that does not fit", async () => {
    await withImport(async ({ f, post, request }) => {
      const text = await post("a,b", { "content-type": "text/plain" });
      expect(text.status).toBe(415);
      expect((await text.json()).errors[0].field).toBe("content-type");
      const br = await post("a,b", { ...CSV, "content-encoding": "br" });
      expect(br.status).toBe(415);
      expect((await br.json()).errors[0].field).toBe("content-encoding");

      const csv = "dev,eventType,v\nd1,t,1\n";
      const bad = await post(csv, { ...CSV, "import-id": ID }, "?deviceIdColumn=device&metadataColumns=site");
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({
        status: "error",
        message: "CSV column mapping does not match the header",
        errors: [
          {
            field: "deviceIdColumn",
            message: 'column "device" is not in the header ("dev", "eventType", "v")',
          },
          {
            field: "metadataColumns",
            message: 'column "site" is not in the header ("dev", "eventType", "v")',
          },
        ],
      });
      expect((await request(`/v1/import/${ID}`)).status).toBe(404);
      expect((await f.server.store.stats()).events).toBe(0);

      const params = await post(csv, CSV, "?deviceIdColum=dev&eventType=t&eventTypeColumn=eventType");
      expect((await params.json()).errors).toEqual([{
        field: "deviceIdColum",
        message: "unknown parameter",
      }]);
      const both = await post(csv, CSV, "?eventType=t&eventTypeColumn=eventType");
      expect((await both.json()).errors[0].field).toBe("eventType");
      const ndjsonQuery = await post("{}", NDJSON, "?eventType=t");
      expect((await ndjsonQuery.json()).errors).toEqual([
        { field: "eventType", message: "only applies to text/csv imports" },
      ]);
      const badId = await post(csv, { ...CSV, "import-id": "imp_x" });
      expect((await badId.json()).errors[0].field).toBe("import-id");
    });
  });

  it("requires the ingest scope to import and the read scope to see a job", async () => {
    await withImport(async ({ f, post, request }) => {
      const keyWith = async (scopes: string[]) =>
        (await (await f.request("/v1/admin/keys", {
          method: "POST",
          body: JSON.stringify({ name: scopes.join("+"), scopes }),
        })).json()).data.key as string;
      const reader = await keyWith(["read"]);
      const writer = await keyWith(["ingest"]);
      const line = '{"deviceId":"d","eventType":"t"}';
      expect((await request("/v1/import", { method: "POST", body: line, headers: NDJSON, key: null })).status)
        .toBe(401);
      expect(
        (await request("/v1/import", { method: "POST", body: line, headers: NDJSON, key: reader })).status,
      )
        .toBe(403);
      const ok = await request("/v1/import", {
        method: "POST",
        body: line,
        headers: { ...NDJSON, "import-id": ID },
        key: writer,
      });
      expect(ok.status).toBe(201);
      expect((await request(`/v1/import/${ID}`, { key: writer })).status).toBe(403);
      expect((await request(`/v1/import/${ID}`, { key: reader })).status).toBe(200);
      expect((await post(line, { ...NDJSON, "import-id": ID })).status).toBe(409);
    });
  });
});
