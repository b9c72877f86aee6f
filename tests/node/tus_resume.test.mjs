// Resumable uploads with the real tus-js-client (tus 1.0.0): an upload cut at about half way and
// resumed yields a dataset identical to an uninterrupted upload of the same file.
// Run by CTest: TEST_QUARRY_BINARY names the server binary; exits non-zero on failure. Bounded in time
// by CTest's timeout and by the deadlines below; no sleeps as synchronization (waits are on events
// or bounded polls of the server).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer as start } from './server.mjs';
import * as tus from 'tus-js-client';

const binary = process.env.TEST_QUARRY_BINARY;
assert.ok(binary, 'TEST_QUARRY_BINARY must name the quarry binary');


// Deterministic CSV of about 12 MB.
function makeCsv() {
  const lines = ['id,customer,amount,region,note'];
  const regions = ['north', 'south', 'east', 'west'];
  for (let i = 0; i < 200_000; i++) {
    lines.push(`${i},cust_${(i * 7919) % 10007},${((i * 37) % 100000) / 100},${regions[i % 4]},note number ${i} of the file`);
  }
  return Buffer.from(lines.join('\n') + '\n');
}

async function api(server, method, route, headers = {}) {
  const res = await fetch(server.base + route, { method, headers: { Authorization: `Bearer ${server.key}`, ...headers } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}

async function waitForJob(server, uploadUrl) {
  const id = uploadUrl.split('/').pop();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const upload = await api(server, 'GET', `/v1/uploads/${id}`);
    if (upload.json && upload.json.job_id) {
      const job = await api(server, 'GET', `/v1/jobs/${upload.json.job_id}`);
      if (['succeeded', 'failed', 'canceled'].includes(job.json.state)) return job.json;
    }
  }
  throw new Error('the ingestion did not finish within 60 s');
}

function tusOptions(server, dataset, extra = {}) {
  return {
    endpoint: `${server.base}/v1/uploads`,
    headers: { Authorization: `Bearer ${server.key}` },
    metadata: { dataset, filename: `${dataset}.csv`, filetype: 'text/csv' },
    retryDelays: [],
    storeFingerprintForResuming: false,
    ...extra,
  };
}

function uploadWhole(server, file, dataset) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, tusOptions(server, dataset, { onError: reject, onSuccess: () => resolve(upload.url) }));
    upload.start();
  });
}

// Starts an upload and aborts it once about half the bytes were sent; resolves with its URL.
function uploadHalf(server, file, dataset) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, tusOptions(server, dataset, {
      chunkSize: 256 * 1024,  // several PATCH requests, so that "half way" falls between and within them
      onError: reject,
      onSuccess: () => reject(new Error('the upload finished before it could be interrupted')),
      onProgress: (sent, total) => {
        if (sent >= total / 2 && upload.url) {
          upload.abort().then(() => resolve(upload.url), reject);
        }
      },
    }));
    upload.start();
  });
}

function resume(server, file, dataset, url) {
  return new Promise((resolve, reject) => {
    let first = null;
    const upload = new tus.Upload(file, tusOptions(server, dataset, {
      uploadUrl: url,
      onError: reject,
      onProgress: (sent) => { if (first === null) first = sent; },
      onSuccess: () => resolve({ url: upload.url, firstProgress: first }),
    }));
    upload.start();
  });
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quarry-tus-'));
const server = await start(binary, dataDir);
try {
  const file = makeCsv();

  const wholeUrl = await uploadWhole(server, file, 'whole');
  const wholeJob = await waitForJob(server, wholeUrl);
  assert.equal(wholeJob.state, 'succeeded', JSON.stringify(wholeJob));

  const halfUrl = await uploadHalf(server, file, 'resumed');
  const id = halfUrl.split('/').pop();
  const head = await api(server, 'HEAD', `/v1/uploads/${id}`, { 'Tus-Resumable': '1.0.0' });
  assert.equal(head.status, 200);
  const offset = Number(head.headers.get('upload-offset'));
  assert.ok(offset > 0 && offset < file.length, `the server kept part of the upload (offset ${offset} of ${file.length})`);
  assert.ok(head.headers.get('upload-expires'), 'an incomplete upload says when it expires');

  const resumed = await resume(server, file, 'resumed', halfUrl);
  assert.equal(resumed.url, halfUrl, 'the same upload was resumed, not a new one created');
  const resumedJob = await waitForJob(server, halfUrl);
  assert.equal(resumedJob.state, 'succeeded', JSON.stringify(resumedJob));

  const a = (await api(server, 'GET', '/v1/datasets/whole/versions')).json.items[0];
  const b = (await api(server, 'GET', '/v1/datasets/resumed/versions')).json.items[0];
  assert.equal(a.row_count, 200_000);
  assert.equal(b.row_count, a.row_count);
  assert.deepEqual(b.schema, a.schema);
  assert.deepEqual(b.stats, a.stats);
  assert.equal(b.source.file_bytes, file.length);
  // Same rows (a dataset is a set of rows: ingestion does not keep the file's order, so the
  // Parquet bytes may differ).
  const res = await fetch(server.base + '/v1/query', {
    method: 'POST',
    headers: { Authorization: `Bearer ${server.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ sql: `SELECT (SELECT count(*) FROM (FROM whole EXCEPT ALL FROM resumed)) +
                                        (SELECT count(*) FROM (FROM resumed EXCEPT ALL FROM whole)) AS differing` }),
  });
  const differing = await res.json();
  assert.equal(res.status, 200, JSON.stringify(differing));
  assert.equal(differing.rows[0][0], 0, 'the resumed dataset holds exactly the rows of the whole one');

  // Termination: the upload and its bytes are gone.
  const doomedUrl = await uploadHalf(server, file, 'doomed');
  const doomed = doomedUrl.split('/').pop();
  assert.equal((await api(server, 'DELETE', `/v1/uploads/${doomed}`, { 'Tus-Resumable': '1.0.0' })).status, 204);
  assert.equal((await api(server, 'HEAD', `/v1/uploads/${doomed}`, { 'Tus-Resumable': '1.0.0' })).status, 404);
  assert.ok(!fs.existsSync(path.join(dataDir, 'uploads', `tus_${doomed}`)));
  console.log(`ok: resumed at ${offset} of ${file.length} bytes; datasets identical (${a.row_count} rows)`);
} finally {
  server.child.kill('SIGTERM');
  await new Promise((resolve) => server.child.once('exit', resolve));
  fs.rmSync(dataDir, { recursive: true, force: true });
}
