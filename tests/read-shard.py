#!/usr/bin/python3
"""Puts records with the AWS CLI and checks what kl-read-shard wrote.

Used by tests/kl-read-shard*.t.  The records are put by an independent
client, /usr/bin/aws (Debian's AWS CLI v2), never by kl, and the checks
read kl's output as text, so a payload must come out byte for byte
(apart from insignificant whitespace): numbers are never converted.

  read-shard.py put ENDPOINT STREAM KIND N EXPECTED [START]
      Puts N records of KIND (mixed: JSON with big numbers and
      whitespace, binary, non-UTF-8, plain text, odd partition keys;
      seq: {"k":KEY,"n":I} over 7 keys, I from START) with put-records,
      500 per call, and appends one line per record to EXPECTED:
      {"shard","seq","pk","b64","text"} (text: the payload if JSON).
  read-shard.py putfiles ENDPOINT STREAM NSHARDS FILE...
      Puts the bytes of FILE i, as one record, into shard i of a stream
      of NSHARDS evenly split shards (ExplicitHashKey), in one call.
  read-shard.py check EXPECTED OUTPUT [--dups] [--subset]
      Every expected record is in OUTPUT exactly once (--dups: at least
      once; --subset: at most once, some may be missing), nothing else
      is, records of each shard come in sequence order, payloads and
      keys are exact.  Prints a one-line summary or the first faults.
  read-shard.py order OUTPUT
      For seq records: per key, n comes out increasing (the put order),
      and no (key, n) twice.  Prints "keys K records N".
  read-shard.py kpl OUTPUT EXPECTED_JSON [SKIP]
      OUTPUT holds the user records of the aggregates described by the
      kpl-make.js style EXPECTED_JSON (SKIP of them left out at the
      start), in order, with sub-sequence numbers, keys and payloads.
"""
import base64
import json
import os
import random
import subprocess
import sys

ENV = dict(os.environ, AWS_ACCESS_KEY_ID='AKIDEXAMPLE',
           AWS_SECRET_ACCESS_KEY='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
           AWS_REGION='us-east-1', AWS_PAGER='')


def minify(text):
    """Drops JSON's insignificant whitespace; strings untouched."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == '\\' else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c in ' \t\r\n':
            i += 1
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def mixed(i, rnd):
    k = i % 6
    pks = ['plain-%d' % i, 'ключ-%d' % (i % 5), 'q"uo\\te-%d' % (i % 3),
           '鍵', 'k' * 256, 'x y %d' % i]
    pk = pks[i % len(pks)]
    if k == 0:
        text = '{ "i" : %d , "big" : 123456789012345678901234567890 ,\n' \
            ' "neg": -98765432109876543210.5e-3, "f": 1.10, "s": "a\\u00e9\\n\\"b",' \
            ' "arr": [ 1, 2.50 , {"x" : null} ] }\n' % i
        data = text.encode()
    elif k == 1:
        text = '[%d, 18446744073709551617, true, false, "ünï"]' % i
        data = text.encode()
    elif k == 2:
        data = bytes(rnd.randrange(256) for _ in range(1 + rnd.randrange(200)))
        text = None
    elif k == 3:
        data = b'\xff\xfe not utf-8 {"i":%d}' % i
        text = None
    elif k == 4:
        data = b'plain text %d, not JSON' % i
        text = None
    else:
        text = '"just a string %d"' % i
        data = text.encode()
    if text is not None:
        try:
            json.loads(data)
        except ValueError:
            text = None
    return pk, data, text


def seqrec(i, rnd):
    key = "key-%d" % (i % 16)
    text = '{"k":"%s","n":%d}' % (key, i)
    return key, text.encode(), text


def put(endpoint, stream, kind, n, expected, start=0):
    rnd = random.Random(n * 7919 + start)
    make = mixed if kind == 'mixed' else seqrec
    recs = [make(i, rnd) for i in range(start, start + n)]
    with open(expected, 'a') as ex:
        for b in range(0, n, 500):
            batch = recs[b:b + 500]
            arg = json.dumps([{'Data': base64.b64encode(d).decode(),
                               'PartitionKey': pk} for pk, d, _ in batch])
            out = subprocess.run(
                ['/usr/bin/aws', '--endpoint-url', endpoint, 'kinesis',
                 'put-records', '--stream-name', stream, '--records', arg],
                env=ENV, check=True, capture_output=True).stdout
            reply = json.loads(out)
            if reply.get('FailedRecordCount'):
                sys.exit('put-records: %s' % out[:300])
            for (pk, d, text), r in zip(batch, reply['Records']):
                ex.write(json.dumps({
                    'shard': r['ShardId'], 'seq': r['SequenceNumber'],
                    'pk': pk, 'b64': base64.b64encode(d).decode(),
                    'text': text}) + '\n')


def putfiles(endpoint, stream, nshards, files):
    recs = [{'Data': base64.b64encode(open(f, 'rb').read()).decode(),
             'PartitionKey': 'outer-%d' % i,
             'ExplicitHashKey': str(i * 2 ** 128 // nshards + 1)}
            for i, f in enumerate(files)]
    out = subprocess.run(
        ['/usr/bin/aws', '--endpoint-url', endpoint, 'kinesis',
         'put-records', '--stream-name', stream, '--records',
         json.dumps(recs)], env=ENV, check=True, capture_output=True).stdout
    for i, r in enumerate(json.loads(out)['Records']):
        if r.get('ShardId') != 'shardId-%012d' % i:
            sys.exit('putfiles: %s' % out[:300])


def data_text(line):
    """The raw text of the data member: the last one of the line."""
    k = line.find(',"data":')
    if k < 0:
        return None
    return line[k + 8:-1]


def check(expected, output, dups=False, subset=False):
    want = {}
    for line in open(expected):
        e = json.loads(line)
        want[(e['shard'], e['seq'])] = e
    seen, faults, last = {}, [], {}
    for no, line in enumerate(open(output), 1):
        line = line.rstrip('\n')
        try:
            r = json.loads(line)
        except ValueError:
            faults.append('line %d: not JSON' % no)
            continue
        key = (r['shard_id'], r['sequence_number'])
        if key not in want:
            faults.append('line %d: unexpected %s %s' % (no, *key))
            continue
        seen[key] = seen.get(key, 0) + 1
        sh = r['shard_id']
        seq = int(r['sequence_number'])
        if sh in last and seq <= last[sh] and not dups:
            faults.append('line %d: out of order in %s' % (no, sh))
        last[sh] = seq
        e = want[key]
        if r['partition_key'] != e['pk']:
            faults.append('line %d: partition key %r' % (no, r['partition_key']))
        if e['text'] is not None:
            if 'data' not in r or data_text(line) != minify(e['text']):
                faults.append('line %d: data %r, want %r' % (
                    no, data_text(line), minify(e['text'])))
        elif r.get('data_base64') != e['b64']:
            faults.append('line %d: data_base64 %r' % (no, r.get('data_base64')))
    for key in want:
        c = seen.get(key, 0)
        if c == 0 and not subset:
            faults.append('missing %s %s' % key)
        if c > 1 and not dups:
            faults.append('%d times: %s %s' % (c, *key))
    if faults:
        print('\n'.join(faults[:10]))
        return 1
    print('ok %d records' % sum(seen.values()))
    return 0


def order(output):
    last, seen, n = {}, set(), 0
    for line in open(output):
        r = json.loads(line)
        d = r['data']
        if (d['k'], d['n']) in seen:
            print('twice: %s %d' % (d['k'], d['n']))
            return 1
        seen.add((d['k'], d['n']))
        if d['n'] <= last.get(d['k'], -1):
            print('out of order: %s %d after %d' % (d['k'], d['n'], last[d['k']]))
            return 1
        last[d['k']] = d['n']
        n += 1
    print('keys %d records %d' % (len(last), n))
    return 0


def kpl(output, expected, skip=0):
    ex = json.load(open(expected))
    users, subs = ex['userRecords'], []
    for b in ex['blobs']:
        subs.extend(range(b.get('records', len(users))))
    lines = [l.rstrip('\n') for l in open(output)]
    if len(lines) != len(users) - skip:
        print('%d lines, want %d' % (len(lines), len(users) - skip))
        return 1
    for no, (line, u, sub) in enumerate(zip(lines, users[skip:], subs[skip:]), 1):
        r = json.loads(line)
        raw = base64.b64decode(u['dataBase64'])
        ok = r.get('sub_sequence_number') == sub and \
            r['partition_key'] == u['partitionKey'] and \
            r.get('explicit_hash_key') == u.get('explicitHashKey')
        if 'data' in r:
            ok = ok and data_text(line) == minify(raw.decode())
        else:
            ok = ok and base64.b64decode(r['data_base64']) == raw
        if not ok:
            print('line %d: %s' % (no, line[:300]))
            return 1
    print('ok %d user records' % len(lines))
    return 0


def main(a):
    if a[0] == 'put':
        put(a[1], a[2], a[3], int(a[4]), a[5], int(a[6]) if len(a) > 6 else 0)
        return 0
    if a[0] == 'putfiles':
        putfiles(a[1], a[2], int(a[3]), a[4:])
        return 0
    if a[0] == 'check':
        return check(a[1], a[2], '--dups' in a, '--subset' in a)
    if a[0] == 'order':
        return order(a[1])
    if a[0] == 'kpl':
        return kpl(a[1], a[2], int(a[3]) if len(a) > 3 else 0)
    sys.exit(__doc__)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
