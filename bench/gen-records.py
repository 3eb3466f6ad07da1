#!/usr/bin/env python3
"""gen-records.py - the benchmark's records: N JSON objects of about 200
bytes, one compact object per line, the same on every run.

    bench/gen-records.py N [START] >FILE

Record i (START + 0 .. START + N - 1) is a page view of user u-i with a
16-digit number, a URL, a referrer and a time; every contender of
bench/run (kl, the SDK scripts, the AWS CLI) is given these same lines,
and every one takes the partition key from "_uid".  Python's standard
library only; no randomness, so runs compare like with like.
"""
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write("usage: gen-records.py N [START]\n")
        return 2
    n = int(sys.argv[1])
    start = int(sys.argv[2]) if len(sys.argv) == 3 else 0
    out = sys.stdout
    buf = []
    for i in range(start, start + n):
        buf.append(
            '{"_uid":"u-%07d","email":"user%d@example.com","_e":"pv",'
            '"url":"https://www.example.com/catalog/item/%d",'
            '"ref":"https://news.example.org/story/%d","n":%d,'
            '"ts":"2026-11-29T16:46:34.123Z"}\n'
            % (i, i, (i * 7919) % 100000, (i * 104729) % 1000000,
               4503599627370496 + i))
        if len(buf) >= 4096:
            out.write(''.join(buf))
            buf = []
    out.write(''.join(buf))
    out.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
