/**
 * The ceiling the ingestion issue measures against: Hono + zod on Deno answering single-event
 * POSTs with no storage at all (the same event validator as the server, PulseStream's 202 body).
 * Run it next to the real server in one sitting (`bench/wrk-paired.sh`) so that the durable
 * path can be compared with what this machine's HTTP stack does in the same minutes.
 *   PORT=8123 deno run -A bench/hono-ceiling.ts
 */
import { Hono } from "hono";
import { createEventValidator } from "../shared/event-schema.ts";
import { DEFAULT_EVENT_LIMITS } from "../shared/limits.ts";

const validator = createEventValidator(DEFAULT_EVENT_LIMITS);
const app = new Hono();
app.post("/v1/events", async (c) => {
  const checked = validator.validate(await c.req.json(), Date.now());
  if (!checked.ok) return c.json({ status: "error", message: "invalid", errors: checked.errors }, 400);
  const e = checked.event;
  return c.json({
    status: "success",
    message: "Event accepted for processing",
    data: { id: crypto.randomUUID(), deviceId: e.deviceId, timestamp: new Date(e.timestamp ?? Date.now()) },
  }, 202);
});
app.get("/livez", (c) => c.json({ status: "ok" }));
Deno.serve({ port: Number(Deno.env.get("PORT") ?? 8123), hostname: "127.0.0.1" }, app.fetch);
