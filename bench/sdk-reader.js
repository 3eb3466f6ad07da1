// sdk-reader.js - the anchor for kl-read-shard's CPU per record: the AWS
// SDK for JavaScript v3 (@aws-sdk/client-kinesis) reading a whole stream
// the same way and writing the same lines (bench/read-kinesalite.sh).
//
//   node bench/sdk-reader.js put ENDPOINT STREAM N BYTES   put N records
//   node bench/sdk-reader.js read ENDPOINT STREAM          read it all
//
// put makes JSON payloads of about BYTES bytes with PutRecords, 500 a
// call, 4 calls in flight.  read lists the shards, reads each from
// TRIM_HORIZON (all shards at once) until an empty, caught-up page, and
// writes one kl-style line per record to stdout: the payload parsed, as
// a JSON reader must.  The SDK needs NodeHttpHandler (HTTP/1.1) to talk
// to the local peers (test-peers.md §7).
'use strict';
const path = require('path');
const mods = process.env.KL_NODE_MODULES ||
  path.join(__dirname, '..', 'tests', 'node_modules');
const K = require(path.join(mods, '@aws-sdk/client-kinesis'));
const { NodeHttpHandler } = require(path.join(mods, '@smithy/node-http-handler'));

const [mode, endpoint, stream, n, bytes] = process.argv.slice(2);
const client = new K.KinesisClient({
  region: 'us-east-1', endpoint,
  credentials: { accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true } }),
});

async function put() {
  const total = Number(n), size = Number(bytes);
  let next = 0;
  async function worker() {
    while (next < total) {
      const recs = [];
      for (let k = 0; k < 500 && next < total; k++, next++) {
        let s = JSON.stringify({ _e: 'pv', email: `user${next}@example.com`,
          n: next, big: '12345678901234567890', url: 'https://example.com/' });
        s = s.slice(0, -2) + 'x'.repeat(Math.max(0, size - s.length)) + '"}';
        recs.push({ Data: Buffer.from(s), PartitionKey: `user-${next % 1000}` });
      }
      const r = await client.send(new K.PutRecordsCommand({ StreamName: stream, Records: recs }));
      if (r.FailedRecordCount) throw new Error('failed records');
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
}

async function read() {
  const shards = (await client.send(new K.ListShardsCommand({ StreamName: stream }))).Shards;
  let count = 0;
  await Promise.all(shards.map(async (sh) => {
    let it = (await client.send(new K.GetShardIteratorCommand({ StreamName: stream,
      ShardId: sh.ShardId, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    for (;;) {
      const p = await client.send(new K.GetRecordsCommand({ ShardIterator: it, Limit: 10000 }));
      const out = [];
      for (const r of p.Records) {
        out.push(JSON.stringify({ stream, shard_id: sh.ShardId,
          sequence_number: r.SequenceNumber, partition_key: r.PartitionKey,
          arrival: r.ApproximateArrivalTimestamp.toISOString(),
          millis_behind_latest: p.MillisBehindLatest,
          data: JSON.parse(Buffer.from(r.Data).toString()) }));
      }
      if (out.length) process.stdout.write(out.join('\n') + '\n');
      count += out.length;
      if (!p.NextShardIterator || (p.Records.length === 0 && p.MillisBehindLatest === 0)) break;
      it = p.NextShardIterator;
    }
  }));
  process.stderr.write(`${count} records\n`);
}

(mode === 'put' ? put() : read()).catch((e) => { console.error(e); process.exit(1); });
