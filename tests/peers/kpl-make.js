// kpl-make.js: makes KPL aggregated records with aws-kinesis-agg (an
// independent encoder) for kl's deaggregation tests (tests/unit/t-kpl.c).
//
//   node tests/peers/kpl-make.js small DIR   the fixtures in tests/data/kpl
//   node tests/peers/kpl-make.js big DIR     several ~1 MiB aggregates,
//                                            made at test time, not kept
//
// For each set it writes agg-<set>-<i>.bin (the raw Data of one Kinesis
// record) and <set>.json: {note, blobs: [{file, bytes, records,
// partitionKey, explicitHashKey}], userRecords: [{partitionKey,
// explicitHashKey, dataBase64}]}, the user records of all blobs in order
// (blob i holds the next blobs[i].records of them).  It is the layout of
// ../shared/testdata/kpl/expected.json, plus the per-blob count.
//
// The inputs come from a fixed-seed generator, and the encoder's output is
// byte-identical across runs, so running "small" again reproduces the
// committed files byte for byte (t-kpl checks that when Node is there).
// Each set is read back with the package's own deaggregateSync, checksums
// on, before anything is written.
//
// The package comes from $KL_NODE_MODULES (default tests/node_modules),
// installed from tests/package-lock.json (aws-kinesis-agg 4.2.8).
//
// Quirks found while writing this: the encoder builds its key tables with
// Object.keys(), which lists array-index-like keys (canonical integers
// below 2^32 - 1: "7", "42", also a hash key "0") first, in numeric order,
// while the records keep insertion-order indices.  An aggregate of records
// with partition keys "b", "7", "3" comes back as "3", "7", "b".  No key
// here looks like an array index: hash keys are at least 2^32.  And the
// decoder reports a record without an explicit hash key as having the
// table's first one (protobufjs reads the absent index as 0), so the
// round trip below compares hash keys only where the input has one.
'use strict';
const fs = require('fs');
const path = require('path');

const mods = process.env.KL_NODE_MODULES ||
  path.join(__dirname, '..', 'node_modules');
const agg = require(path.join(mods, 'aws-kinesis-agg'));

// xorshift32 with a fixed seed: the same bytes on every run.
function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

function bytes(rnd, n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rnd() & 0xff;
  return b;
}

// One record, then a mixed bag: empty, binary, large and JSON data;
// multi-byte and 256-byte partition keys; hash keys at both ends of the
// range, shared by several records; data that starts with the KPL magic
// (must not be unpacked again).
function small() {
  const rnd = prng(20261129);
  const one = [{ partitionKey: 'solo', data: Buffer.from('{"one":1}') }];
  const mixed = [];
  const pks = ['alpha', 'ключ-β', '鍵', 'k'.repeat(256), 'user-1', ' '];
  const ehks = ['4294967296', '340282366920938463463374607431768211455',
    '170141183460469231731687303715884105728'];
  for (let i = 0; i < 60; i++) {
    const r = { partitionKey: pks[i % pks.length] };
    if (i % 5 === 2) r.explicitHashKey = ehks[i % ehks.length];
    if (i === 0) r.data = Buffer.alloc(0);
    else if (i % 4 === 1) r.data = bytes(rnd, 1 + rnd() % 64);
    else if (i === 30) r.data = bytes(rnd, 3000);
    else if (i === 31) r.data = Buffer.concat([
      Buffer.from('f3899ac2', 'hex'), bytes(rnd, 40)]);
    else r.data = Buffer.from(JSON.stringify({ i, n: rnd() }));
    mixed.push(r);
  }
  return [['one', one], ['mixed', mixed]];
}

// Enough data for several aggregates: the encoder starts a new one near
// 1 MiB.
function big() {
  const rnd = prng(7);
  const user = [];
  for (let i = 0; i < 3000; i++) {
    user.push({
      partitionKey: 'shard-key-' + (rnd() % 500).toString(36),
      data: bytes(rnd, 600 + rnd() % 800),
    });
    if (i % 97 === 0) user[i].explicitHashKey = String(rnd()) + '0000000000';
  }
  return [['big', user]];
}

function make(name, user, dir, done) {
  const blobs = [];
  agg.aggregate(user.map((u) => ({ ...u })),
    (encoded, next) => { blobs.push(encoded); next(); },
    () => {
      const meta = [];
      let k = 0;
      blobs.forEach((b, i) => {
        agg.deaggregateSync({ Data: b.data, PartitionKey: b.partitionKey,
          SequenceNumber: '1' }, true, (err, recs) => {
          if (err) throw err;
          recs.forEach((r, j) => {
            const u = user[k + j];
            if (r.PartitionKey !== u.partitionKey ||
                Buffer.from(r.Data, 'base64').compare(u.data) !== 0 ||
                (u.explicitHashKey &&
                r.ExplicitPartitionKey !== u.explicitHashKey))
              throw new Error(`${name}: record ${k + j} does not round-trip: ` + JSON.stringify([r, u]));
          });
          const file = `agg-${name}-${i}.bin`;
          fs.writeFileSync(path.join(dir, file), b.data);
          meta.push({ file, bytes: b.data.length, records: recs.length,
            partitionKey: b.partitionKey,
            explicitHashKey: b.explicitHashKey || null });
          k += recs.length;
        });
      });
      if (k !== user.length) throw new Error(`${name}: ${k} records`);
      const out = {
        note: `made by tests/peers/kpl-make.js with aws-kinesis-agg 4.2.8`,
        blobs: meta,
        userRecords: user.map((u) => ({
          partitionKey: u.partitionKey,
          explicitHashKey: u.explicitHashKey || null,
          dataBase64: u.data.toString('base64'),
        })),
      };
      fs.writeFileSync(path.join(dir, `${name}.json`),
        JSON.stringify(out, null, 1) + '\n');
      done();
    },
    (err) => { throw err; });
}

const [set, dir] = process.argv.slice(2);
const sets = { small, big };
if (!sets[set] || !dir) {
  process.stderr.write('usage: node kpl-make.js small|big DIR\n');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });
const todo = sets[set]();
(function next() {
  const t = todo.shift();
  if (t) make(t[0], t[1], dir, next);
})();
