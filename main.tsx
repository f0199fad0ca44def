/**
 * Deno entry. `deno run -A main.tsx` serves on PORT/HOST; `deno serve main.tsx`
 * (Deno Deploy, a Val Town–style HTTP val) uses the default export's `fetch`.
 * All configuration comes from the environment (see docs/CONFIGURATION.md).
 */
import { getConnInfo } from "hono/deno";
import { boot } from "./backend/adapters/boot.ts";
import { startedByDenoServe } from "./backend/adapters/deno/serve-mode.ts";
import { denoRealtime } from "./backend/adapters/deno/realtime.ts";
import { serveGuarded } from "./backend/adapters/deno/guarded-serve.ts";
import { registerConnectionCollectors } from "./backend/observability/connection-collectors.ts";
import { readDashboardFiles } from "./backend/adapters/dashboard-files.ts";

const dashboard = await readDashboardFiles();
const booted = await boot(Deno.env.toObject(), {
  dashboard,
  clientAddress: (c) => getConnInfo(c).remote.address ?? null,
  realtime: (config) =>
    denoRealtime(config.live.heartbeatMs, startedByDenoServe() || !config.connections.denoGuard),
});
if (!booted) Deno.exit(1);
const { config, logger, server } = booted;

/** For `deno serve`: the whole application as a fetch handler. */
export default { fetch: server.app.fetch } satisfies Deno.ServeDefaultExport;

// Under `deno serve` the runtime serves the default export; under `deno run` we listen ourselves.
if (import.meta.main && !startedByDenoServe()) {
  // Deno.serve has no header timeout, idle timeout or connection cap: see guarded-serve.ts.
  const http = serveGuarded(server.app.fetch, {
    port: config.port,
    hostname: config.host,
    limits: config.connections,
    logger,
    onListen: ({ hostname, port }) =>
      logger.info("listening", { url: `http://${hostname}:${port}`, runtime: `deno ${Deno.version.deno}` }),
  });
  registerConnectionCollectors(server.observability.registry, () => http.stats());
  const shutdown = async () => {
    logger.info("shutting down");
    server.hub.closeAll("server shutting down"); // open SSE streams would hold the shutdown
    await http.shutdown();
    await server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", shutdown);
  Deno.addSignalListener("SIGINT", shutdown);
}
