// sdk-read.js - the AWS SDK for JavaScript anchor of kl's read path: drain
// every shard of a Kinesis stream with @aws-sdk/client-kinesis.
//
//   node bench/sdk-read.js --endpoint URL --stream S [--max-calls N]
//
// Lists the shards (ListShards, following NextToken), then reads all of
// them at once from TRIM_HORIZON: GetShardIterator, then GetRecords
// (Limit 10000) until a reply has no records and MillisBehindLatest 0, or
// the shard ends.  A shard that is behind asks again at once; one that
// returned nothing while behind waits 200 ms.  Each record is written to
// stdout as one line in kl-read-shard's format (stream, shard_id,
// sequence_number, partition_key, arrival, millis_behind_latest, and
// "data" parsed from the payload when it is JSON, else data_base64), so
// both do the same work per record.  --max-calls (default 100000) bounds
// the GetRecords calls of each shard.  At the end one line on stderr:
// "sdk-read: N records from K shards, C calls".  Exit 0, or 1 on error.
'use strict';
const path = require('path');
const http = require('http');

const modules = process.env.KL_NODE_MODULES ||
    path.join(__dirname, '..', 'tests', 'node_modules');
const { KinesisClient, ListShardsCommand, GetShardIteratorCommand,
  GetRecordsCommand } = require(path.join(modules, '@aws-sdk', 'client-kinesis'));
const { NodeHttpHandler } =
    require(path.join(modules, '@smithy', 'node-http-handler'));

function usage() {
  process.stderr.write('usage: sdk-read.js --endpoint URL --stream S ' +
      '[--max-calls N]\n');
  process.exit(2);
}

function args(argv) {
  const o = { endpoint: null, stream: null, maxCalls: 100000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--endpoint' && i + 1 < argv.length) o.endpoint = argv[++i];
    else if (a === '--stream' && i + 1 < argv.length) o.stream = argv[++i];
    else if (a === '--max-calls' && i + 1 < argv.length) o.maxCalls = Number(argv[++i]);
    else usage();
  }
  if (!o.endpoint || !o.stream || !(o.maxCalls > 0)) usage();
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// out writes s to stdout and waits when the pipe is full.
function out(s) {
  if (process.stdout.write(s)) return Promise.resolve();
  return new Promise((r) => process.stdout.once('drain', r));
}

function line(stream, shard, rec, behind) {
  const o = { stream, shard_id: shard, sequence_number: rec.SequenceNumber,
    partition_key: rec.PartitionKey,
    arrival: rec.ApproximateArrivalTimestamp.toISOString(),
    millis_behind_latest: behind };
  const text = Buffer.from(rec.Data).toString('utf8');
  try {
    o.data = JSON.parse(text);
  } catch (e) {
    o.data_base64 = Buffer.from(rec.Data).toString('base64');
  }
  return JSON.stringify(o);
}

async function drain(client, o, shard, stats) {
  let it = (await client.send(new GetShardIteratorCommand({
    StreamName: o.stream, ShardId: shard, ShardIteratorType: 'TRIM_HORIZON',
  }))).ShardIterator;
  for (let calls = 0; it; calls++) {
    if (calls >= o.maxCalls)
      throw new Error(`${shard}: still behind after ${calls} calls`);
    const r = await client.send(new GetRecordsCommand({ ShardIterator: it,
      Limit: 10000 }));
    stats.calls++;
    const recs = r.Records || [];
    if (recs.length) {
      const lines = recs.map((x) => line(o.stream, shard, x,
          r.MillisBehindLatest));
      stats.records += recs.length;
      await out(lines.join('\n') + '\n');
    } else if (r.MillisBehindLatest === 0) {
      return;
    } else {
      await sleep(200);
    }
    it = r.NextShardIterator;
  }
}

async function main() {
  const o = args(process.argv.slice(2));
  const client = new KinesisClient({
    endpoint: o.endpoint,
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
    }),
  });
  const stats = { records: 0, calls: 0, shards: 0 };
  try {
    const shards = [];
    let token;
    do {
      const r = await client.send(new ListShardsCommand(token ?
        { NextToken: token } : { StreamName: o.stream }));
      for (const s of r.Shards || []) shards.push(s.ShardId);
      token = r.NextToken;
    } while (token);
    stats.shards = shards.length;
    await Promise.all(shards.map((s) => drain(client, o, s, stats)));
  } catch (e) {
    process.stderr.write(`sdk-read: ${e.name || 'error'}: ${e.message}\n`);
    process.exitCode = 1;
  }
  process.stderr.write(`sdk-read: ${stats.records} records from ` +
      `${stats.shards} shards, ${stats.calls} calls\n`);
  client.destroy();
}

main();
