-- Rollup row encodings, sized on a copy of a real rollups table:
--   ./node_modules/.bin/deno run -A bench/storage.ts --keep   (prints the kept file)
--   sqlite3 <kept file> < bench/rollup-encodings.sql
-- v0: the table as it is, freshly packed; v1: times relative to the bucket start; v2: v1 + dictionary
-- codes for the names; v3: v2 + start as a bucket number (docs/PERFORMANCE.md).
-- It sizes the old `rollups` table: run it on a file written before migration 16 (since then
-- flushes write `rollups_c`, which is v3's layout, and bench/storage.ts reports it).
ATTACH ':memory:' AS m;
CREATE TABLE m.names AS SELECT DISTINCT event_type AS name FROM rollups UNION SELECT DISTINCT device_id FROM rollups;
CREATE TABLE m.codes (name TEXT PRIMARY KEY, code INTEGER);
INSERT INTO m.codes SELECT name, row_number() OVER (ORDER BY name) - 1 FROM m.names;
CREATE TABLE v0 (event_type TEXT NOT NULL, resolution INTEGER NOT NULL, device_id TEXT NOT NULL, start INTEGER NOT NULL, count INTEGER NOT NULL, value_count INTEGER NOT NULL, sum REAL NOT NULL, min REAL, max REAL, last_value REAL, last_ts INTEGER, last_seq INTEGER, min_ts INTEGER, max_ts INTEGER, sketch BLOB, devices BLOB, PRIMARY KEY (event_type, resolution, device_id, start)) WITHOUT ROWID;
INSERT INTO v0 SELECT * FROM rollups ORDER BY event_type, resolution, device_id, start;
-- v1: times relative to the bucket start
CREATE TABLE v1 (event_type TEXT NOT NULL, resolution INTEGER NOT NULL, device_id TEXT NOT NULL, start INTEGER NOT NULL, count INTEGER NOT NULL, value_count INTEGER NOT NULL, sum REAL NOT NULL, min REAL, max REAL, last_value REAL, last_ts INTEGER, last_seq INTEGER, min_ts INTEGER, max_ts INTEGER, sketch BLOB, devices BLOB, PRIMARY KEY (event_type, resolution, device_id, start)) WITHOUT ROWID;
INSERT INTO v1 SELECT event_type, resolution, device_id, start, count, value_count, sum, min, max, last_value, last_ts - start, last_seq, min_ts - start, max_ts - start, sketch, devices FROM rollups ORDER BY event_type, resolution, device_id, start;
-- v2: v1 + dictionary codes for the names
CREATE TABLE v2 (event_type INTEGER NOT NULL, resolution INTEGER NOT NULL, device_id INTEGER NOT NULL, start INTEGER NOT NULL, count INTEGER NOT NULL, value_count INTEGER NOT NULL, sum REAL NOT NULL, min REAL, max REAL, last_value REAL, last_ts INTEGER, last_seq INTEGER, min_ts INTEGER, max_ts INTEGER, sketch BLOB, devices BLOB, PRIMARY KEY (event_type, resolution, device_id, start)) WITHOUT ROWID;
INSERT INTO v2 SELECT (SELECT code FROM m.codes WHERE name = event_type), resolution, (SELECT code FROM m.codes WHERE name = device_id), start, count, value_count, sum, min, max, last_value, last_ts - start, last_seq, min_ts - start, max_ts - start, sketch, devices FROM rollups ORDER BY 1, 2, 3, 4;
-- v3: v2 + start as a bucket number
CREATE TABLE v3 (event_type INTEGER NOT NULL, resolution INTEGER NOT NULL, device_id INTEGER NOT NULL, start INTEGER NOT NULL, count INTEGER NOT NULL, value_count INTEGER NOT NULL, sum REAL NOT NULL, min REAL, max REAL, last_value REAL, last_ts INTEGER, last_seq INTEGER, min_ts INTEGER, max_ts INTEGER, sketch BLOB, devices BLOB, PRIMARY KEY (event_type, resolution, device_id, start)) WITHOUT ROWID;
INSERT INTO v3 SELECT (SELECT code FROM m.codes WHERE name = event_type), resolution, (SELECT code FROM m.codes WHERE name = device_id), start / resolution, count, value_count, sum, min, max, last_value, last_ts - start, last_seq, min_ts - start, max_ts - start, sketch, devices FROM rollups ORDER BY 1, 2, 3, 4;
SELECT name, sum(pgsize) AS bytes, round(sum(pgsize) * 1.0 / (SELECT count(*) FROM rollups), 1) AS per_row FROM dbstat WHERE name IN ('rollups', 'v0', 'v1', 'v2', 'v3') GROUP BY name ORDER BY name;
SELECT 'avg name bytes', round(avg(length(event_type) + length(device_id)), 1), 'avg sketch', round(avg(length(sketch)), 1), 'avg devices', round(avg(coalesce(length(devices), 0)), 1) FROM rollups;
DROP TABLE v0; DROP TABLE v1; DROP TABLE v2; DROP TABLE v3;
