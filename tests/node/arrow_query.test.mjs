// Arrow IPC answers of POST /v1/query read by the real apache-arrow npm package: types, nulls,
// nested values, many batches, and the end-of-stream marker.
// Run by CTest: TEST_QUARRY_BINARY names the server binary; exits non-zero on failure. Bounded in time
// by CTest's timeout and by the deadlines below; no sleeps as synchronization.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer as start } from './server.mjs';
import { tableFromIPC } from 'apache-arrow';

const binary = process.env.TEST_QUARRY_BINARY;
assert.ok(binary, 'TEST_QUARRY_BINARY must name the quarry binary');


async function query(server, body) {
  const res = await fetch(server.base + '/v1/query', {
    method: 'POST',
    headers: { Authorization: `Bearer ${server.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ format: 'arrow', ...body }),
  });
  return { status: res.status, type: res.headers.get('content-type'), bytes: new Uint8Array(await res.arrayBuffer()) };
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quarry-arrow-'));
const server = await start(binary, dataDir);
try {
  const typed = await query(server, {
    sql: `SELECT i::INTEGER AS i, i::BIGINT * 1000000000000 AS big, i / 4 AS half, 'row ' || i AS label,
                 CASE WHEN i % 3 = 0 THEN NULL ELSE i END AS maybe, i % 2 = 0 AS even,
                 DATE '2024-01-01' + i::INTEGER AS day, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i) SECOND AS ts,
                 (i / 100)::DECIMAL(10, 2) AS amount, [i, i + 1] AS pair, {'a': i, 'b': 'x' || i} AS rec,
                 CASE WHEN i % 5 = 0 THEN NULL ELSE 'v' END AS sometimes
          FROM range(5000) t(i) ORDER BY i`,
  });
  assert.equal(typed.status, 200, new TextDecoder().decode(typed.bytes).slice(0, 300));
  assert.equal(typed.type, 'application/vnd.apache.arrow.stream');
  const table = tableFromIPC(typed.bytes);
  assert.equal(table.numRows, 5000);
  assert.ok(table.batches.length >= 3, `${table.batches.length} batches`);
  assert.deepEqual(table.schema.fields.map((f) => f.name),
                   ['i', 'big', 'half', 'label', 'maybe', 'even', 'day', 'ts', 'amount', 'pair', 'rec', 'sometimes']);
  const row = table.get(4242).toJSON();
  assert.equal(row.i, 4242);
  assert.equal(row.big, 4242000000000000n);
  assert.equal(row.half, 1060.5);
  assert.equal(row.label, 'row 4242');
  assert.equal(row.maybe, null, 'a NULL integer (4242 is a multiple of 3)');
  assert.equal(table.get(4241).toJSON().maybe, 4241n);
  assert.equal(row.even, true);
  assert.equal(new Date(row.day).toISOString().slice(0, 10), '2035-08-13');
  assert.equal(row.sometimes, 'v');
  assert.equal(table.get(4240).toJSON().sometimes, null);
  assert.deepEqual(Array.from(row.pair), [4242n, 4243n]);
  assert.equal(row.rec.b, 'x4242');
  assert.equal(table.schema.fields[8].type.toString(), 'Decimal[10e+2]', 'DECIMAL(10,2) as an Arrow decimal');
  assert.equal(new Date(Number(row.ts)).toISOString(), '2024-01-01T01:10:42.000Z');

  // The limit, and an empty answer (schema and end-of-stream only).
  const limited = tableFromIPC((await query(server, { sql: 'SELECT * FROM range(100000)', limit: 10 })).bytes);
  assert.equal(limited.numRows, 10);
  const empty = tableFromIPC((await query(server, { sql: 'SELECT 1 AS one WHERE false' })).bytes);
  assert.equal(empty.numRows, 0);
  assert.deepEqual(empty.schema.fields.map((f) => f.name), ['one']);

  // A type the encoder does not write is a clean 400 before any byte of the stream.
  const enumerated = await query(server, { sql: "SELECT 'a'::ENUM('a', 'b') AS e" });
  assert.equal(enumerated.status, 400);
  console.log('arrow answers read back by apache-arrow: ok');
} finally {
  server.child.kill('SIGTERM');
  fs.rmSync(dataDir, { recursive: true, force: true });
}
