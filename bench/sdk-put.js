// sdk-put.js - the AWS SDK for JavaScript anchor of kl's put path: NDJSON
// records into a Kinesis stream with @aws-sdk/client-kinesis.
//
//   node bench/sdk-put.js --endpoint URL --stream S [--paced RATE] [FILE]
//
// Reads one JSON object per line from FILE (or stdin).  Each line becomes
// one record whose Data is the line's bytes and whose PartitionKey is the
// object's "_uid" (as kl-trigger-put picks it), so both write the same
// records.  By default it sends PutRecords of 500 records, 4 requests in
// flight, and resends the entries a reply marks failed (at most 10 tries),
// as a careful SDK user would.  With --paced RATE it instead sends one
// PutRecord per line, one at a time, RATE a second, after setting
// "bench_t0" in the object to the time of the call in milliseconds since
// the epoch: the end-to-end latency probe of bench/run.
//
// The client uses NodeHttpHandler (HTTP/1.1 keep-alive): the SDK's default
// HTTP/2 handler does not work with kinesalite.  Credentials and region
// come from the environment, as bench/run sets them.  At the end one line
// on stderr: "sdk-put: N records, F failed entries resent, C calls".
// Exit 0 when every record was put, 1 otherwise.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const modules = process.env.KL_NODE_MODULES ||
    path.join(__dirname, '..', 'tests', 'node_modules');
const { KinesisClient, PutRecordsCommand, PutRecordCommand } =
    require(path.join(modules, '@aws-sdk', 'client-kinesis'));
const { NodeHttpHandler } =
    require(path.join(modules, '@smithy', 'node-http-handler'));
const http = require('http');

const BATCH = 500;
const IN_FLIGHT = 4;
const TRIES = 10;

function usage() {
  process.stderr.write('usage: sdk-put.js --endpoint URL --stream S ' +
      '[--paced RATE] [FILE]\n');
  process.exit(2);
}

function args(argv) {
  const o = { endpoint: null, stream: null, paced: 0, file: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--endpoint' && i + 1 < argv.length) o.endpoint = argv[++i];
    else if (a === '--stream' && i + 1 < argv.length) o.stream = argv[++i];
    else if (a === '--paced' && i + 1 < argv.length) o.paced = Number(argv[++i]);
    else if (a.startsWith('-')) usage();
    else if (o.file === null) o.file = a;
    else usage();
  }
  if (!o.endpoint || !o.stream || !(o.paced >= 0)) usage();
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// putBatch sends entries (resending the failed ones) and returns the
// number of entries resent; it throws once TRIES tries have failed.
async function putBatch(client, stream, entries, stats) {
  let todo = entries;
  for (let t = 0; t < TRIES; t++) {
    stats.calls++;
    const r = await client.send(new PutRecordsCommand({
      StreamName: stream, Records: todo }));
    if (!r.FailedRecordCount) return;
    todo = todo.filter((_, i) => r.Records[i].ErrorCode);
    stats.resent += todo.length;
    await sleep(50 * (t + 1));
  }
  throw new Error(`${todo.length} records still failing after ${TRIES} tries`);
}

async function batched(client, o, lines, stats) {
  let batch = [];
  const running = new Set();
  const launch = (entries) => {
    const p = putBatch(client, o.stream, entries, stats)
        .then(() => { stats.records += entries.length; running.delete(p); });
    p.catch(() => {});  // seen by Promise.race or Promise.all below
    running.add(p);
    return p;
  };
  for await (const line of lines) {
    if (line === '') continue;
    const obj = JSON.parse(line);
    batch.push({ Data: Buffer.from(line), PartitionKey: String(obj._uid) });
    if (batch.length === BATCH) {
      launch(batch);
      batch = [];
      if (running.size >= IN_FLIGHT) await Promise.race(running);
    }
  }
  if (batch.length) launch(batch);
  await Promise.all(running);
}

async function paced(client, o, lines, stats) {
  const gap = 1000 / o.paced;
  const start = Date.now();
  let i = 0;
  for await (const line of lines) {
    if (line === '') continue;
    const due = start + i * gap;
    const now = Date.now();
    if (due > now) await sleep(due - now);
    const obj = JSON.parse(line);
    obj.bench_t0 = Date.now();
    stats.calls++;
    await client.send(new PutRecordCommand({ StreamName: o.stream,
      Data: Buffer.from(JSON.stringify(obj)), PartitionKey: String(obj._uid) }));
    stats.records++;
    i++;
  }
}

async function main() {
  const o = args(process.argv.slice(2));
  const client = new KinesisClient({
    endpoint: o.endpoint,
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT }),
    }),
  });
  const input = o.file ? fs.createReadStream(o.file) : process.stdin;
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  const stats = { records: 0, resent: 0, calls: 0 };
  try {
    if (o.paced > 0) await paced(client, o, lines, stats);
    else await batched(client, o, lines, stats);
  } catch (e) {
    process.stderr.write(`sdk-put: ${e.name || 'error'}: ${e.message}\n`);
    process.exitCode = 1;
  }
  process.stderr.write(`sdk-put: ${stats.records} records, ` +
      `${stats.resent} failed entries resent, ${stats.calls} calls\n`);
  client.destroy();
}

main();
