/**
 * API key management from the command line, on the store named by
 * DATABASE_URL (the server may be running: SQLite WAL allows both).
 *
 *   npm run keys -- create --name <name> --scopes ingest,read[,admin] [--expires <epoch ms|ISO>]
 *   npm run keys -- list
 *   npm run keys -- revoke <key id>
 *
 * Actions are audited with actor `cli`. Output is JSON; `create` prints the
 * secret once.
 */
import { createApiKey, listApiKeys, revokeApiKey } from "../../admin/key-admin.ts";
import { ALL_SCOPES, type Scope } from "../../auth/api-keys.ts";
import { systemClock } from "../../clock.ts";
import { AppError } from "../../errors.ts";
import { parseTime } from "../../http/query-params.ts";
import { createSqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { openSqlDriver } from "../sqlite/open-driver.ts";
import { checkDatabaseFile, openFailureLine } from "../sqlite/database-file.ts";
import { fail, loadCliConfig } from "./command-line.ts";
import { parseCommandLine, usageError } from "./usage.ts";

const USAGE = `usage:
  keys create --name <name> --scopes ingest,read,admin [--expires <epoch ms | ISO-8601 | now-… >]
  keys list
  keys revoke <key id>
  keys --help

Manages the API keys of the database named by DATABASE_URL (the server may be running).
Output is JSON; create prints the secret once. Exit status: 0 done, 1 refused or failed,
2 a command-line mistake.`;

const { values, positionals } = parseCommandLine(USAGE, {
  name: { type: "string" },
  scopes: { type: "string" },
  expires: { type: "string" },
});
const [command, target] = positionals;
if (!["create", "list", "revoke"].includes(command ?? "")) {
  usageError(command ? `unknown command: ${command}` : "a command is needed", USAGE);
}
const expected = command === "revoke" ? 2 : 1;
if (positionals.length !== expected) {
  usageError(
    positionals.length < expected ? "revoke needs a key id" : `unexpected argument: ${positionals[expected]}`,
    USAGE,
  );
}
if (command !== "create" && (values.name ?? values.scopes ?? values.expires) !== undefined) {
  usageError(`--name, --scopes and --expires go with create only`, USAGE);
}

const config = loadCliConfig();
const databaseUrl = config.databaseUrl;
const store = await (async () => {
  checkDatabaseFile(databaseUrl);
  return await createSqliteStore({
    driver: await openSqlDriver(databaseUrl, { ...config.sqlite, preference: "node-sqlite" }),
  });
})().catch((error) => fail(openFailureLine(databaseUrl, error)));
const deps = { store, clock: systemClock };
const actor = { id: "cli", address: null };

try {
  if (command === "create") {
    const scopes = (values.scopes ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    const unknown = scopes.filter((s) => !ALL_SCOPES.includes(s as Scope));
    if (unknown.length) fail(`unknown scope(s): ${unknown.join(", ")} (use ${ALL_SCOPES.join(", ")})`);
    if (!values.name || scopes.length === 0) usageError("create needs --name and --scopes", USAGE);
    const errors: { field: string; message: string }[] = [];
    const expiresAt = values.expires
      ? parseTime(values.expires, "expires", Date.now(), errors) ?? null
      : null;
    if (errors.length) fail(errors[0].message);
    const created = await createApiKey(deps, {
      name: values.name!,
      scopes: scopes as Scope[],
      expiresAt,
      actor,
    });
    console.log(JSON.stringify({ ...created.key, key: created.secret }, null, 2));
  } else if (command === "list") {
    console.log(JSON.stringify(await listApiKeys(deps), null, 2));
  } else {
    console.log(JSON.stringify(await revokeApiKey(deps, { id: target, actor }), null, 2));
  }
} catch (error) {
  if (error instanceof AppError) {
    fail(
      `${error.message}${
        error.errors.length ? `: ${error.errors.map((e) => `${e.field} ${e.message}`).join("; ")}` : ""
      }`,
    );
  }
  throw error;
} finally {
  await store.close();
}
