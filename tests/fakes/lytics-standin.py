#!/usr/bin/python3
# lytics-standin: a strict local stand-in for the parts of the Lytics REST
# API that kl uses (collect, segment list/fetch/scan, entity lookup), plus
# test hooks under /_standin/.  Python 3 standard library only.
#
# Built from shared/docs/lytics-api.md (sections 1-4, 7, 10) and
# contract.md sections 3 and 5.3.  Run with --help for the full usage,
# every hook, the seed file format and the decisions taken where the
# Lytics documentation is silent.

import argparse
import hashlib
import hmac
import http.server
import itertools
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import parse_qs, unquote

PROG = 'lytics-standin'
DEFAULT_MAX_BODY = 10000000          # "Less than 10MB": the strict reading
DISCARD_CAP = 64 * 1024 * 1024       # read and drop oversize bodies up to this
DEFAULT_DOMAIN = 'example.com'
DEFAULT_SCAN_TTL = 300.0
REQUEST_LOG_KEEP = 10000
FIXED_TIME = '2026-01-01T00:00:00Z'
MARK_POISON = '_standin_poison'
MARK_REJECT = '_standin_reject'

USAGE_EPILOG = r'''
Start (the line on stdout is the only output; wait for it, bounded):

  tests/fakes/lytics-standin.py --port 0 --seed tests/data/lytics/seed.json \
      --key-file KEYFILE [--log FILE] [--ready-file FILE]
  -> {"url":"http://127.0.0.1:PORT","pid":PID}

It binds 127.0.0.1 only, serves HTTP/1.1 keep-alive (threaded), and exits 0
on SIGTERM or SIGINT.  The API key is the key file's content without
surrounding whitespace; it never appears in argv, logs or replies.

Lytics API (auth required; the forms are tried in this order):
  Authorization: KEY      raw token, logged as auth "header".  If the header
                          is present it alone decides: "Bearer KEY" is wrong.
  ?access_token=KEY       logged as auth "access_token"
  ?key=KEY                legacy, logged as auth "key"
  Missing or wrong: 401 {"data":null,"message":"Not authorized","status":401}

  POST /collect/json/{stream}[?dryrun=B&timestamp_field=F&filename=N]
      Body: one JSON object, or a JSON array (Content-Type application/json).
      200 {"status":200,"message":"success","data":{"message_count":A,
      "rejected_count":R,"content-type":"application/json","droperrors":false,
      "dryrun":B,"timestamp_field":F,"filename":N}}
      A = objects accepted and stored, R = array elements that are not
      objects, plus objects with "_standin_reject":true.  Nothing is stored
      with dryrun=true.  Any object with "_standin_poison":true makes the
      whole request 400 (nothing stored), so a client's bisection can be
      tested.  400: body not UTF-8 JSON, not an object/array, NaN/Infinity,
      bad dryrun value, an empty stream name.  413: body over --max-body.
      415: Content-Type not application/json, or a Content-Encoding.
      405: another method.  B parses like Go's strconv.ParseBool.
  GET /api/segment[?table=user|content&valid=true|false|all]
      Default table user, default valid all.  Other valid values: 400.
  GET /api/segment/{id-or-slug}           404 {"data":null,"message":"Not Found","status":404}
  GET /api/segment/{id-or-slug}/scan[?limit=N&start=NEXT&fields=a,b]
      limit default 10, clamped to 1..100 (not an integer: 400).  Reply
      {"status":200,"message":"success","_next":"TOKEN","total":T,"data":[..]}
      _next is "" on the last page (never a trailing empty page);
      total = members in the scan's snapshot, the same on every page.
      Unknown, expired or other-segment start: 400 {"data":null,
      "message":"Invalid or expired scan start token; restart the scan
      without start","status":400}.  A start token stays valid for
      --scan-ttl seconds and may be reused (a retried page is the same
      page).  A scan sees the membership as of its first page.
  GET /api/entity/user/{field}/{value}[?fields=a,b]
      200 {"status":200,"message":"success","data":{profile},"meta":{..}};
      unknown: 200 {"status":200,"message":"Not Found",
      "data":{"segments":["not_found","all"]}}.
  Unknown path: 404 envelope.  Query account_id is accepted and ignored.

Profiles (scan and entity): a stored profile (seed "profiles", a member
object, or the profiles hook) as given, else a generated one
{"_uid":UID,"email":"UID@DOMAIN"} plus the range's extra fields; then
"segments" is set to the slugs of the segments the user is in (the scanned
segment from the scan's snapshot, the others as they are now).

Test hooks (no auth, 127.0.0.1 only; JSON replies; X = segment id or slug;
bodies of uids/profiles may be a JSON value, an array, or NDJSON):
  GET  /_standin/health                 {"ok":true}
  GET  /_standin/events?stream=S[&offset=N]
                                        stored events of S as NDJSON, in
                                        arrival order, each the event's bytes
                                        as received minus insignificant
                                        whitespace (numbers keep every digit)
  GET  /_standin/batches?stream=S       NDJSON, one line per 200 collect:
                                        {"seq","stream","events","message_count",
                                        "rejected_count","dryrun","timestamp_field",
                                        "filename","auth","bytes"}
  GET  /_standin/counts[?stream=S]      {"streams":{S:{"events","batches",
                                        "rejected","dryrun_batches","dryrun_events",
                                        "poisoned"}},"requests":N,"status":{..},
                                        "auth":{..},"connections":N,"scan_tokens":N};
                                        with stream=S, only S's object (zeros if
                                        nothing came).  "batches" counts 200
                                        collects, dry runs included; "poisoned"
                                        counts 400s caused by _standin_poison
  GET  /_standin/requests[?limit=N]     the last API requests (not hooks) as
                                        NDJSON log lines (as in --log)
  POST /_standin/reset[?all=1]          forget events, batches, counts, the
                                        request list, faults and scan tokens;
                                        all=1 also restores the seed's segments
                                        and profiles
  POST /_standin/segments               body: segment object(s) as in the seed
                                        (409 if the id or slug exists)
  DELETE /_standin/segment/X            delete a segment (scans then 404)
  GET  /_standin/segment/X              {"id","slug_name","count","ranges",...}
  GET  /_standin/segment/X/members[?limit=N]
                                        current member uids, NDJSON strings
  POST /_standin/segment/X/add          body: uids and/or profiles with "_uid"
                                        -> {"added":N,"count":C}
  POST /_standin/segment/X/remove       body: uids and/or objects with "_uid"
                                        -> {"removed":N,"count":C}
  POST /_standin/segment/X/generate?count=N[&start=0&prefix=u-&domain=example.com]
                                        add members PREFIX{start}..PREFIX{start+N-1}
                                        (stored as a range: 1M members cost a
                                        few bytes); optional body: a JSON object
                                        of extra fields for every generated profile
  POST /_standin/segment/X/remove-range?count=N[&start=0&prefix=u-]
  POST /_standin/segment/X/clear        no members
  POST /_standin/profiles               body: profiles with "_uid"; upsert
                                        (membership unchanged)
  POST /_standin/scan/expire            every outstanding _next token expires
  POST /_standin/fault?kind=K[&count=N&path=P&method=M&retry_after=S&ms=MS&when=W]
        K: an HTTP status 400..599 (v1 error envelope; Retry-After: S if given),
           drop (close without a reply), reset (TCP RST, no reply),
           latency (sleep MS ms, then answer normally).
        count: next N matching requests (default 1; -1 = until cleared).
        path: path prefix (default: every API path; hooks never match).
        method: only this method.  when=after (status/drop/reset): process
        the request first (collect stores its events), then fail; default
        before (nothing happens).  Rules match in the order added; every
        matching latency rule applies, then the first matching other rule.
        The same keys may be sent as a JSON object body.  Faults come
        before auth.  -> {"id":N,...}
  GET  /_standin/faults                 the rules still pending
  POST /_standin/faults/clear           (also DELETE /_standin/faults)

Seed file (--seed), one JSON object; every key optional:
  {"account":{"aid":1,"account_id":"..."},
   "profiles":[{"_uid":"u-1","email":"a@example.com",...}],
   "segments":[{"id":"32 hex","slug_name":"high_value","name":"...",
                "table":"user","kind":"segment","invalid":false,...,
                "members":["u-1",{"_uid":"u-9","email":"..."}],
                "generate":[{"prefix":"u-","start":0,"count":1000,
                             "domain":"example.com","fields":{}}]}]}
  Every segment key other than "members" and "generate" is returned by
  /api/segment as given; missing ones get defaults (id = first 32 hex of
  md5(slug_name), name = slug_name, table user, kind segment, is_public
  true, segment_ql "FILTER *", created/updated 2026-01-01T00:00:00Z, ...).
  A member is a uid (its stored profile, else a generated one) or a
  profile object, which must have a string "_uid" and is stored.

Decisions where the Lytics documentation is silent (lytics-api.md [INF]):
  - Non-objects in a collect array are counted in rejected_count and not
    stored; the request still answers 200 (lytics-api.md 3.5).  Any other
    top-level JSON type, or bad JSON, is 400 for the whole request.
    message_count counts accepted events only.
  - 413 above 10,000,000 bytes (the strict reading of "10MB").
  - 415 unless Content-Type is application/json (kl must send it; curl's
    default form type would otherwise pass unnoticed).
  - An Authorization header, when present, decides alone.
  - Scan: a bad or expired start is 400 (restart without start); the last
    page has "_next":"" and no empty trailing page; a scan is a snapshot.
  - /api/segment lists valid and invalid segments unless valid= is given.
  - Entity not found is HTTP 200 with message "Not Found" (never 404).
  - NDJSON collect bodies only with --accept-ndjson.
  - timestamp_field and filename are echoed ("" when not given); event
    times are not parsed.

Log (--log): one JSON line per request: time, conn, method, path, query
(access_token and key values replaced by "<redacted>"), auth
(header|access_token|key|none|hook), auth_ok, content_type, status
(0 = dropped), req_bytes, resp_bytes, ms, and fault/hook/ua when set.
'''


# --------------------------------------------------------------------------
# helpers

def now_rfc3339():
    return datetime.now(timezone.utc).isoformat(timespec='milliseconds') \
        .replace('+00:00', 'Z')


def dumps(obj):
    return json.dumps(obj, separators=(',', ':'), ensure_ascii=False)


def _bad_constant(name):
    raise ValueError('invalid JSON constant %s' % name)


_decoder = json.JSONDecoder(parse_constant=_bad_constant)
_ws = re.compile(r'[ \t\n\r]*')
# Whitespace outside strings; strings are kept by the first group.
_compact_re = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")|[ \t\n\r]+')


def strict_loads(text):
    return _decoder.decode(text)


def _keep_string(m):
    return m.group(1) or ''


def compact(text):
    """Drop whitespace outside JSON strings (valid JSON text in)."""
    if not any(c in text for c in ' \t\n\r'):
        return text
    if '\\' not in text:
        # No escapes: splitting on '"' alternates outside/inside strings.
        outside = ''.join(text.split('"')[::2])
        if not any(c in outside for c in ' \t\n\r'):
            return text
    return _compact_re.sub(_keep_string, text)


def chunk_lines(chunk):
    """The stored events of one collect request as NDJSON lines (cached)."""
    lines = chunk[3]
    if lines is None:
        text, skip, ndjson = chunk[0], chunk[1], chunk[2]
        if ndjson:
            raws = [compact(ln) for ln in text.split('\n') if ln.strip()]
        else:
            raws = raw_elements(compact(text))
        lines = [raw + '\n' for i, raw in enumerate(raws)
                 if not (skip and i in skip)]
        chunk[3] = lines
        chunk[0] = None
    return lines


def raw_elements(text):
    """Yield the raw text of each top-level value: the object itself, or
    each element of the array.  The text was already validated."""
    i = _ws.match(text, 0).end()
    if text[i] != '[':
        _, end = _decoder.raw_decode(text, i)
        yield text[i:end]
        return
    i = _ws.match(text, i + 1).end()
    if text[i] == ']':
        return
    while True:
        _, end = _decoder.raw_decode(text, i)
        yield text[i:end]
        i = _ws.match(text, end).end()
        if text[i] != ',':
            return
        i = _ws.match(text, i + 1).end()


def parse_gobool(s):
    # strconv.ParseBool
    if s in ('1', 't', 'T', 'TRUE', 'true', 'True'):
        return True
    if s in ('0', 'f', 'F', 'FALSE', 'false', 'False'):
        return False
    raise ValueError(s)


def canonical_uint(s):
    return s.isascii() and s.isdigit() and (s == '0' or s[0] != '0')


def parse_values(body):
    """A JSON value, an array of values, or NDJSON -> list of values."""
    text = body.decode('utf-8')
    if not text.strip():
        return []
    try:
        v = strict_loads(text)
        return v if isinstance(v, list) else [v]
    except ValueError:
        out = []
        for line in text.splitlines():
            if line.strip():
                out.append(strict_loads(line))
        return out


class HookError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def need_int(q, name, default=None, lo=None):
    v = q.get(name)
    if v is None:
        if default is None:
            raise HookError(400, 'missing parameter %s' % name)
        return default
    try:
        n = int(v)
    except ValueError:
        raise HookError(400, 'parameter %s must be an integer' % name)
    if lo is not None and n < lo:
        raise HookError(400, 'parameter %s must be >= %d' % (name, lo))
    return n


# --------------------------------------------------------------------------
# membership: ranges of generated uids plus explicit members, copy-on-write

_gen = itertools.count(1)


class Members:
    """Members of one segment, in scan order.

    blocks: ('r', prefix, lo, hi, domain, fields) = uids prefix+str(n) for
    lo <= n < hi, minus those in `removed`; ('l', list) = explicit members
    as (uid, gen) entries, live only while explicit[uid] == gen.  A uid is
    in at most one range or in explicit, never both.  A frozen state (held
    by a scan) is never changed; the segment clones it before a change, and
    lists shared with a frozen state are never appended to."""

    __slots__ = ('blocks', 'ranges', 'explicit', 'removed', 'frozen',
                 'own_list', 'entries')

    def __init__(self):
        self.blocks = []
        self.ranges = []
        self.explicit = {}
        self.removed = set()
        self.frozen = False
        self.own_list = None
        self.entries = 0

    def clone(self):
        m = Members()
        m.blocks = list(self.blocks)
        m.ranges = list(self.ranges)
        m.explicit = dict(self.explicit)
        m.removed = set(self.removed)
        m.entries = self.entries
        return m

    def find_range(self, uid):
        for r in self.ranges:
            p = r[1]
            if uid.startswith(p):
                s = uid[len(p):]
                if canonical_uint(s) and r[2] <= int(s) < r[3]:
                    return r
        return None

    def contains(self, uid):
        if uid in self.explicit:
            return True
        r = self.find_range(uid)
        return r is not None and uid not in self.removed

    def range_of(self, uid):
        """The range block holding a current member, or None."""
        r = self.find_range(uid)
        if r is not None and uid not in self.removed:
            return r
        return None

    def count(self):
        return sum(r[3] - r[2] for r in self.ranges) - len(self.removed) \
            + len(self.explicit)

    def add(self, uid):
        if uid in self.explicit:
            return False
        if self.find_range(uid) is not None:
            if uid in self.removed:
                self.removed.discard(uid)
                return True
            return False
        gen = next(_gen)
        if self.own_list is None:
            self.own_list = []
            self.blocks.append(('l', self.own_list))
        self.own_list.append((uid, gen))
        self.explicit[uid] = gen
        self.entries += 1
        return True

    def remove(self, uid):
        if uid in self.explicit:
            del self.explicit[uid]
            self._maybe_compact()
            return True
        if self.find_range(uid) is not None and uid not in self.removed:
            self.removed.add(uid)
            return True
        return False

    def _maybe_compact(self):
        if self.entries <= 2 * len(self.explicit) + 4096:
            return
        lst = [(u, g) for u, g in self.explicit.items()]
        self.blocks = [b for b in self.blocks if b[0] == 'r']
        self.blocks.append(('l', lst))
        self.own_list = lst
        self.entries = len(lst)

    @staticmethod
    def _in(uid, prefix, lo, hi):
        if not uid.startswith(prefix):
            return False
        s = uid[len(prefix):]
        return canonical_uint(s) and lo <= int(s) < hi

    def _check_prefix(self, prefix):
        for r in self.ranges:
            p = r[1]
            if p != prefix and (p.startswith(prefix) or prefix.startswith(p)):
                raise HookError(409, 'prefix %r overlaps range prefix %r' %
                                (prefix, p))

    def add_range(self, prefix, lo, hi, domain, fields):
        self._check_prefix(prefix)
        before = self.count()
        pieces = [(lo, hi)]
        for r in self.ranges:
            if r[1] != prefix:
                continue
            nxt = []
            for a, b in pieces:
                if r[3] <= a or b <= r[2]:
                    nxt.append((a, b))
                    continue
                if a < r[2]:
                    nxt.append((a, r[2]))
                if r[3] < b:
                    nxt.append((r[3], b))
            pieces = nxt
        for a, b in pieces:
            blk = ('r', prefix, a, b, domain, fields)
            self.blocks.append(blk)
            self.ranges.append(blk)
        # uids in [lo, hi) become (or stay) range members
        for uid in [u for u in self.removed if self._in(u, prefix, lo, hi)]:
            self.removed.discard(uid)
        moved = [u for u in self.explicit if self._in(u, prefix, lo, hi)]
        for uid in moved:
            del self.explicit[uid]
        if moved:
            self._maybe_compact()
        return self.count() - before

    def remove_range(self, prefix, lo, hi):
        before = self.count()
        blocks = []
        for b in self.blocks:
            if b[0] != 'r' or b[1] != prefix or b[3] <= lo or hi <= b[2]:
                blocks.append(b)
                continue
            if b[2] < lo:
                blocks.append(('r', prefix, b[2], lo, b[4], b[5]))
            if hi < b[3]:
                blocks.append(('r', prefix, hi, b[3], b[4], b[5]))
        self.blocks = blocks
        self.ranges = [b for b in blocks if b[0] == 'r']
        for uid in [u for u in self.removed if self._in(u, prefix, lo, hi)]:
            self.removed.discard(uid)
        for uid in [u for u in self.explicit if self._in(u, prefix, lo, hi)]:
            del self.explicit[uid]
        self._maybe_compact()
        return before - self.count()

    def page(self, bi, off, limit):
        """Up to `limit` members from cursor (bi, off): ([(uid, range or
        None)], next cursor or None)."""
        out = []
        blocks = self.blocks
        removed = self.removed
        explicit = self.explicit
        nb = len(blocks)
        while bi < nb:
            b = blocks[bi]
            if b[0] == 'r':
                prefix, lo, hi = b[1], b[2], b[3]
                n = lo + off
                while n < hi:
                    uid = prefix + str(n)
                    if uid not in removed:
                        if len(out) == limit:
                            return out, (bi, n - lo)
                        out.append((uid, b))
                    n += 1
            else:
                lst = b[1]
                i = off
                ln = len(lst)
                while i < ln:
                    uid, g = lst[i]
                    if explicit.get(uid) == g:
                        if len(out) == limit:
                            return out, (bi, i)
                        out.append((uid, None))
                    i += 1
            bi += 1
            off = 0
        return out, None

    def describe(self):
        return {
            'count': self.count(),
            'ranges': [{'prefix': r[1], 'start': r[2], 'count': r[3] - r[2],
                        'domain': r[4]} for r in self.ranges],
            'explicit': len(self.explicit),
            'removed_from_ranges': len(self.removed),
        }


class Segment:
    __slots__ = ('id', 'slug', 'meta', 'members')

    def __init__(self, meta):
        self.meta = meta
        self.id = meta['id']
        self.slug = meta['slug_name']
        self.members = Members()

    def mutable(self):
        if self.members.frozen:
            self.members = self.members.clone()
        return self.members

    def snapshot(self):
        self.members.frozen = True
        return self.members


SEGMENT_DEFAULTS = [
    ('aid', None), ('account_id', None), ('id', None), ('name', None),
    ('kind', 'segment'), ('table', 'user'), ('is_public', True),
    ('public_name', None), ('slug_name', None), ('description', ''),
    ('segment_ql', 'FILTER *'), ('author_id', 'standin00000000000000000000000000'),
    ('invalid', False), ('invalid_reason', ''), ('tags', []),
    ('created', FIXED_TIME), ('updated', FIXED_TIME),
]

_hex32 = re.compile(r'^[0-9a-f]{32}$')


def make_segment_meta(spec, account):
    if not isinstance(spec, dict):
        raise ValueError('a segment must be a JSON object')
    slug = spec.get('slug_name')
    if not isinstance(slug, str) or not slug:
        raise ValueError('a segment needs a non-empty string "slug_name"')
    meta = {}
    for k, dv in SEGMENT_DEFAULTS:
        meta[k] = dv
    meta['aid'] = account.get('aid', 1)
    meta['account_id'] = account.get('account_id',
                                      'standin0000000000000000000000000')
    meta['id'] = hashlib.md5(slug.encode()).hexdigest()
    meta['name'] = slug
    meta['public_name'] = slug
    meta['slug_name'] = slug
    for k, v in spec.items():
        if k not in ('members', 'generate'):
            meta[k] = v
    if not isinstance(meta['id'], str) or not meta['id']:
        raise ValueError('segment %s: "id" must be a non-empty string' % slug)
    return meta


# --------------------------------------------------------------------------
# the whole fake state

class State:
    def __init__(self, seed, opts):
        self.lock = threading.Lock()
        self.opts = opts
        self.seed = seed
        self.account = seed.get('account') or {}
        self.conn_counter = itertools.count(1)
        self.connections = 0
        self.fault_ids = itertools.count(1)
        self.load_seed()
        self.reset_collected()

    # ---- seed and segments

    def load_seed(self):
        self.segments = {}            # id -> Segment, creation order
        self.slugs = {}               # slug -> Segment
        self.profiles = {}            # uid -> profile dict
        for p in self.seed.get('profiles') or []:
            self.put_profile(p)
        for spec in self.seed.get('segments') or []:
            self.create_segment(spec)
        self.clear_tokens()

    def put_profile(self, p):
        if not isinstance(p, dict) or not isinstance(p.get('_uid'), str) \
                or not p['_uid']:
            raise ValueError('a profile must be an object with a string "_uid"')
        self.profiles[p['_uid']] = p
        return p['_uid']

    def create_segment(self, spec):
        meta = make_segment_meta(spec, self.account)
        if meta['id'] in self.segments or meta['id'] in self.slugs \
                or meta['slug_name'] in self.slugs \
                or meta['slug_name'] in self.segments:
            raise HookError(409, 'segment %s exists' % meta['slug_name'])
        seg = Segment(meta)
        m = seg.members
        gens = spec.get('generate') or []
        if isinstance(gens, dict):
            gens = [gens]
        for g in gens:
            if not isinstance(g, dict):
                raise ValueError('"generate" entries must be objects')
            cnt = g.get('count')
            start = g.get('start', 0)
            if not isinstance(cnt, int) or cnt < 0 or not isinstance(start, int) \
                    or start < 0:
                raise ValueError('"generate" needs integer count and start >= 0')
            prefix = g.get('prefix', 'u-')
            domain = g.get('domain', DEFAULT_DOMAIN)
            fields = g.get('fields') or {}
            if not isinstance(prefix, str) or not isinstance(domain, str) \
                    or not isinstance(fields, dict):
                raise ValueError('bad "generate" entry')
            m.add_range(prefix, start, start + cnt, domain, fields)
        for mem in spec.get('members') or []:
            m.add(self.member_uid(mem))
        self.segments[seg.id] = seg
        self.slugs[seg.slug] = seg
        return seg

    def member_uid(self, mem):
        if isinstance(mem, str) and mem:
            return mem
        if isinstance(mem, dict):
            return self.put_profile(mem)
        raise ValueError('a member is a uid string or a profile object with "_uid"')

    def find_segment(self, ref):
        return self.segments.get(ref) or self.slugs.get(ref)

    def delete_segment(self, seg):
        del self.segments[seg.id]
        del self.slugs[seg.slug]

    # ---- profiles

    def render(self, uid, rng, scanned, fields, segs_wanted=True):
        p = self.profiles.get(uid)
        if p is not None:
            d = dict(p)
        else:
            domain = rng[4] if rng is not None else DEFAULT_DOMAIN
            d = {'_uid': uid, 'email': uid + '@' + domain}
            if rng is not None and rng[5]:
                d.update(rng[5])
        if segs_wanted:
            d['segments'] = [s.slug for s in self.segments.values()
                             if s is scanned or s.members.contains(uid)]
        if fields:
            d = {k: d[k] for k in fields if k in d}
        return d

    @staticmethod
    def _match(v, value):
        if isinstance(v, str):
            return v == value
        if isinstance(v, list):
            return any(State._match(x, value) for x in v
                       if not isinstance(x, (list, dict)))
        if isinstance(v, dict) or v is None:
            return False
        return dumps(v) == value

    def lookup(self, field, value):
        for uid, p in self.profiles.items():
            if field in p and self._match(p[field], value):
                return uid, None
        for seg in self.segments.values():
            m = seg.members
            if field in ('_uid', '_uids'):
                if m.contains(value):
                    return value, m.range_of(value)
            elif field == 'email':
                local, at, dom = value.rpartition('@')
                if not at:
                    continue
                r = m.range_of(local)
                if r is not None and r[4] == dom:
                    return local, r
                if local in m.explicit and dom == DEFAULT_DOMAIN:
                    return local, None
        return None, None

    # ---- collected events and counters

    def reset_collected(self):
        self.streams = {}
        self.batch_seq = 0
        self.requests = 0
        self.status_counts = {}
        self.auth_counts = {}
        self.request_log = []
        self.faults = []

    def stream(self, name):
        s = self.streams.get(name)
        if s is None:
            s = self.streams[name] = {
                'chunks': [], 'batches': [], 'events': 0, 'rejected': 0,
                'dryrun_batches': 0, 'dryrun_events': 0, 'poisoned': 0}
        return s

    # ---- scan tokens

    def new_token(self, seg_id, snap, cursor):
        """The _next token for a cursor in a snapshot.  The same cursor
        gets the same token (a retried page is byte-identical); its
        expiry is pushed back to now + --scan-ttl."""
        now = time.monotonic()
        exp = now + self.opts.scan_ttl
        ck = (seg_id, id(snap), cursor[0], cursor[1])
        tok = self.cursor_tokens.get(ck)
        if tok is not None and tok in self.tokens:
            self.tokens[tok] = (seg_id, snap, cursor[0], cursor[1], exp)
            return tok
        self.token_adds += 1
        if self.token_adds % 1024 == 0:
            self.sweep_tokens(now)
        tok = secrets.token_hex(16)
        self.tokens[tok] = (seg_id, snap, cursor[0], cursor[1], exp)
        self.cursor_tokens[ck] = tok
        return tok

    def sweep_tokens(self, now):
        for t in [t for t, v in self.tokens.items() if v[4] <= now]:
            v = self.tokens.pop(t)
            self.cursor_tokens.pop((v[0], id(v[1]), v[2], v[3]), None)

    def clear_tokens(self):
        self.tokens = {}
        self.cursor_tokens = {}
        self.token_adds = 0


# --------------------------------------------------------------------------
# faults

class Fault:
    __slots__ = ('id', 'kind', 'count', 'path', 'method', 'retry_after', 'ms',
                 'when')

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


def make_fault(params, ids):
    f = Fault()
    f.id = next(ids)
    kind = str(params.get('kind', ''))
    if kind in ('drop', 'reset', 'latency'):
        f.kind = kind
    else:
        try:
            code = int(kind)
        except ValueError:
            raise HookError(400, 'kind must be a status 400..599, drop, reset or latency')
        if not 400 <= code <= 599:
            raise HookError(400, 'kind must be a status 400..599, drop, reset or latency')
        f.kind = code
    try:
        f.count = int(params.get('count', 1))
        f.ms = int(params.get('ms', 0))
    except (TypeError, ValueError):
        raise HookError(400, 'count and ms must be integers')
    if f.count == 0 or f.count < -1:
        raise HookError(400, 'count must be >= 1, or -1 for until cleared')
    if f.kind == 'latency' and f.ms <= 0:
        raise HookError(400, 'latency needs ms > 0')
    f.path = str(params.get('path', '/'))
    f.method = params.get('method')
    f.method = str(f.method).upper() if f.method else None
    ra = params.get('retry_after')
    f.retry_after = str(ra) if ra is not None else None
    f.when = str(params.get('when', 'before'))
    if f.when not in ('before', 'after'):
        raise HookError(400, 'when must be before or after')
    return f


# --------------------------------------------------------------------------
# HTTP

ENVELOPE_MESSAGES = {401: 'Not authorized', 404: 'Not Found'}


class Reply:
    __slots__ = ('status', 'body', 'ctype', 'headers', 'close', 'fault')

    def __init__(self, status, body, ctype='application/json', headers=None,
                 close=False):
        self.status = status
        self.body = body
        self.ctype = ctype
        self.headers = headers or []
        self.close = close
        self.fault = None


def phrase(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return 'Error' if status >= 400 else 'OK'


def envelope_error(status, message=None, headers=None, close=False):
    if message is None:
        message = ENVELOPE_MESSAGES.get(status) or phrase(status)
    body = dumps({'data': None, 'message': message, 'status': status})
    return Reply(status, body.encode(), headers=headers, close=close)


def envelope_ok(data, extra=None):
    d = {'status': 200, 'message': 'success'}
    if extra:
        d.update(extra)
    d['data'] = data
    return Reply(200, dumps(d).encode())


def hook_json(obj, status=200):
    return Reply(status, (dumps(obj) + '\n').encode())


def hook_ndjson(lines):
    return Reply(200, ''.join(lines).encode(), ctype='application/x-ndjson')


class BodyError(Exception):
    def __init__(self, reply):
        self.reply = reply


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = PROG
    sys_version = ''
    disable_nagle_algorithm = True
    timeout = 300

    st = None          # State, set at start
    key = b''
    logf = None
    log_lock = threading.Lock()

    def setup(self):
        super().setup()
        self.conn_id = next(self.st.conn_counter)
        with self.st.lock:
            self.st.connections += 1

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # ---- body

    def read_body(self):
        h = self.headers
        te = h.get('Transfer-Encoding')
        cl = h.get('Content-Length')
        limit = self.st.opts.max_body
        if te is not None:
            if te.strip().lower() != 'chunked':
                self.close_connection = True
                raise BodyError(envelope_error(501, 'Unsupported Transfer-Encoding',
                                               close=True))
            return self.read_chunked(limit)
        if cl is None:
            return b''
        if not cl.strip().isdigit():
            raise BodyError(envelope_error(400, 'Bad Content-Length', close=True))
        n = int(cl)
        if n > limit:
            if n <= DISCARD_CAP:
                self.discard(n)
                raise BodyError(envelope_error(413))
            raise BodyError(envelope_error(413, close=True))
        body = self.rfile.read(n)
        if len(body) != n:
            raise BodyError(envelope_error(400, 'Short body', close=True))
        return body

    def discard(self, n):
        while n > 0:
            got = self.rfile.read(min(n, 1 << 20))
            if not got:
                break
            n -= len(got)

    def read_chunked(self, limit):
        parts = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b';', 1)[0].strip(), 16)
            except ValueError:
                raise BodyError(envelope_error(400, 'Bad chunk', close=True))
            if size == 0:
                while True:           # trailers
                    t = self.rfile.readline(8192)
                    if t in (b'\r\n', b'\n', b''):
                        break
                break
            total += size
            if total > DISCARD_CAP:
                raise BodyError(envelope_error(413, close=True))
            data = self.rfile.read(size)
            self.rfile.readline(8)
            if total <= limit:
                parts.append(data)
        if total > limit:
            raise BodyError(envelope_error(413))
        return b''.join(parts)

    # ---- sending

    def send(self, r):
        close = r.close or self.close_connection
        head = ['HTTP/1.1 %d %s' % (r.status, phrase(r.status)),
                'Date: ' + self.date_time_string(),
                'Server: ' + PROG,
                'Content-Type: ' + r.ctype,
                'Content-Length: %d' % len(r.body)]
        head.extend(r.headers)
        if close:
            head.append('Connection: close')
            self.close_connection = True
        data = ('\r\n'.join(head) + '\r\n\r\n').encode('latin-1') + r.body
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def log_request_line(self, rec):
        st = self.st
        line = dumps(rec) + '\n'
        if self.logf is not None:
            with self.log_lock:
                self.logf.write(line)
                self.logf.flush()
        if not rec.get('hook'):
            with st.lock:
                st.requests += 1
                k = str(rec['status'])
                st.status_counts[k] = st.status_counts.get(k, 0) + 1
                a = rec['auth']
                st.auth_counts[a] = st.auth_counts.get(a, 0) + 1
                st.request_log.append(line)
                if len(st.request_log) > REQUEST_LOG_KEEP * 2:
                    del st.request_log[:-REQUEST_LOG_KEEP]

    # ---- dispatch

    def dispatch(self):
        t0 = time.monotonic()
        raw_path, _, rawq = self.path.partition('?')
        q = {k: v[-1] for k, v in
             parse_qs(rawq, keep_blank_values=True).items()}
        qlist = parse_qs(rawq, keep_blank_values=True)
        rec = {'time': now_rfc3339(), 'conn': self.conn_id,
               'method': self.command, 'path': raw_path,
               'query': {k: ('<redacted>' if k in ('access_token', 'key') else v)
                         for k, v in q.items()},
               'auth': 'none', 'auth_ok': False,
               'content_type': self.headers.get('Content-Type')}
        ua = self.headers.get('User-Agent')
        if ua:
            rec['ua'] = ua
        segs = [unquote(s) for s in raw_path.split('/')[1:]] \
            if raw_path.startswith('/') else []
        is_hook = bool(segs) and segs[0] == '_standin'
        body = b''
        reply = None
        try:
            body = self.read_body()
        except BodyError as e:
            reply = e.reply
        rec['req_bytes'] = len(body)
        if reply is None:
            if is_hook:
                rec['hook'] = True
                rec['auth'] = 'hook'
                reply = self.hook(segs[1:], q, qlist, body)
            else:
                reply = self.api(segs, q, qlist, body, rec)
        if reply is None:                   # dropped or reset
            rec['status'] = 0
            rec['resp_bytes'] = 0
            self.close_connection = True
        else:
            self.send(reply)
            rec['status'] = reply.status
            rec['resp_bytes'] = len(reply.body)
        if reply is not None and reply.fault:
            rec['fault'] = reply.fault
        rec['ms'] = round((time.monotonic() - t0) * 1000, 3)
        self.log_request_line(rec)

    # ---- API

    def check_auth(self, q, rec):
        h = self.headers.get('Authorization')
        if h is not None:
            form, tok = 'header', h.strip()
        elif 'access_token' in q:
            form, tok = 'access_token', q['access_token']
        elif 'key' in q:
            form, tok = 'key', q['key']
        else:
            rec['auth'] = 'none'
            return False
        rec['auth'] = form
        ok = hmac.compare_digest(tok.encode('utf-8', 'surrogateescape'),
                                 self.key)
        rec['auth_ok'] = ok
        return ok

    def apply_fault(self, f, rec):
        rec_fault = {'id': f.id, 'kind': f.kind, 'when': f.when}
        if f.kind in ('drop', 'reset'):
            self.close_connection = True
            if f.kind == 'reset':
                # Linger 0, then close before the server's shutdown(SHUT_WR)
                # can send a FIN: the fd really closes when finish() drops
                # rfile, and the peer gets an RST.
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack('ii', 1, 0))
                    self.connection.close()
                except OSError:
                    pass
            rec['fault'] = rec_fault
            return None
        hdrs = []
        if f.retry_after is not None:
            hdrs.append('Retry-After: ' + f.retry_after)
        r = envelope_error(f.kind, headers=hdrs)
        r.fault = rec_fault
        return r

    def match_faults(self, path):
        st = self.st
        latency = 0
        chosen = None
        with st.lock:
            for f in list(st.faults):
                if not path.startswith(f.path):
                    continue
                if f.method and f.method != self.command:
                    continue
                if f.kind == 'latency':
                    latency += f.ms
                elif chosen is None:
                    chosen = f
                else:
                    continue
                if f.count > 0:
                    f.count -= 1
                    if f.count == 0:
                        st.faults.remove(f)
        return latency, chosen

    def api(self, segs, q, qlist, body, rec):
        latency, fault = self.match_faults(self.path.partition('?')[0])
        if latency:
            rec['latency_ms'] = latency
            time.sleep(latency / 1000.0)
        if fault is not None and fault.when == 'before':
            return self.apply_fault(fault, rec)
        reply = self.route(segs, q, qlist, body, rec)
        if fault is not None:
            return self.apply_fault(fault, rec)
        return reply

    def route(self, segs, q, qlist, body, rec):
        n = len(segs)
        m = self.command
        if n == 3 and segs[0] == 'collect' and segs[1] == 'json':
            handler, allowed = self.collect, 'POST'
        elif n >= 2 and segs[0] == 'api' and segs[1] == 'segment' and n <= 4 \
                and (n < 4 or segs[3] == 'scan'):
            handler, allowed = self.segment_api, 'GET'
        elif n == 5 and segs[0] == 'api' and segs[1] == 'entity':
            handler, allowed = self.entity, 'GET'
        else:
            return envelope_error(404)
        if m != allowed:
            return envelope_error(405, headers=['Allow: ' + allowed])
        if not self.check_auth(q, rec):
            return envelope_error(401)
        return handler(segs, q, qlist, body, rec)

    # POST /collect/json/{stream}
    def collect(self, segs, q, qlist, body, rec):
        st = self.st
        stream = segs[2]
        if not stream:
            return envelope_error(400, 'Missing stream name')
        try:
            dryrun = parse_gobool(q['dryrun']) if 'dryrun' in q else False
        except ValueError:
            return envelope_error(400, 'Invalid dryrun value')
        ts_field = q.get('timestamp_field', '')
        filename = q.get('filename', '')
        ce = self.headers.get('Content-Encoding')
        if ce is not None and ce.strip().lower() != 'identity':
            return envelope_error(415, 'Unsupported Content-Encoding')
        ctype = (self.headers.get('Content-Type') or '').split(';')[0].strip().lower()
        ndjson = False
        if ctype in ('application/x-ndjson', 'application/ndjson'):
            if not st.opts.accept_ndjson:
                return envelope_error(415, 'Unsupported Content-Type')
            ndjson = True
        elif ctype != 'application/json':
            return envelope_error(415, 'Unsupported Content-Type; use application/json')
        try:
            text = body.decode('utf-8')
        except UnicodeDecodeError:
            return envelope_error(400, 'Invalid JSON: body is not UTF-8')
        try:
            if ndjson:
                raise ValueError('ndjson')
            val = strict_loads(text)
        except ValueError as e:
            if not st.opts.accept_ndjson:
                return envelope_error(400, 'Invalid JSON: %s' % e)
            try:
                lines = [ln for ln in text.split('\n') if ln.strip()]
                val = [strict_loads(ln) for ln in lines]
                ndjson = True
            except ValueError as e2:
                return envelope_error(400, 'Invalid JSON: %s' % e2)
        if isinstance(val, dict):
            events = (val,)
        elif isinstance(val, list) and not ndjson:
            events = val
        elif ndjson:
            events = val
        else:
            return envelope_error(400, 'Body must be a JSON object or an array of objects')
        skip = None
        maxev = st.opts.max_event_bytes
        for i, e in enumerate(events):
            if type(e) is not dict:
                bad = True
            elif MARK_POISON in e or MARK_REJECT in e:
                if e.get(MARK_POISON) is True:
                    with st.lock:
                        st.stream(stream)['poisoned'] += 1
                    return envelope_error(400, 'Invalid event in batch (stand-in poison)')
                bad = e.get(MARK_REJECT) is True
            elif maxev and len(dumps(e).encode()) > maxev:
                bad = True
            else:
                continue
            if bad:
                if skip is None:
                    skip = set()
                skip.add(i)
        rejected = len(skip) if skip else 0
        accepted = len(events) - rejected
        with st.lock:
            s = st.stream(stream)
            s['rejected'] += rejected
            if dryrun:
                s['dryrun_batches'] += 1
                s['dryrun_events'] += accepted
            else:
                s['events'] += accepted
                if accepted:
                    s['chunks'].append([text, skip, ndjson, None])
            st.batch_seq += 1
            s['batches'].append({
                'seq': st.batch_seq, 'stream': stream, 'events': len(events),
                'message_count': accepted, 'rejected_count': rejected,
                'dryrun': dryrun, 'timestamp_field': ts_field,
                'filename': filename, 'auth': rec['auth'], 'bytes': len(body)})
        rec['stream'] = stream
        return envelope_ok({
            'message_count': accepted, 'rejected_count': rejected,
            'content-type': ctype, 'droperrors': False,
            'dryrun': dryrun, 'timestamp_field': ts_field, 'filename': filename})

    # GET /api/segment[/{ref}[/scan]]
    def segment_api(self, segs, q, qlist, body, rec):
        st = self.st
        if len(segs) == 2:
            table = q.get('table') or 'user'
            valid = q.get('valid') or 'all'
            if valid not in ('true', 'false', 'all'):
                return envelope_error(400, 'Invalid valid value; use true, false or all')
            with st.lock:
                out = [s.meta for s in st.segments.values()
                       if s.meta.get('table') == table and
                       (valid == 'all' or
                        bool(s.meta.get('invalid')) == (valid == 'false'))]
                return envelope_ok(out)
        with st.lock:
            seg = st.find_segment(segs[2])
            if seg is None:
                return envelope_error(404)
            if len(segs) == 3:
                return envelope_ok(seg.meta)
            return self.scan(seg, q, qlist)

    def scan(self, seg, q, qlist):
        st = self.st
        lim = q.get('limit', '')
        if lim == '':
            limit = 10
        else:
            try:
                limit = int(lim)
            except ValueError:
                return envelope_error(400, 'Invalid limit')
            limit = max(1, min(100, limit))
        fields = []
        for v in qlist.get('fields', []):
            fields.extend(f.strip() for f in v.split(',') if f.strip())
        start = q.get('start', '')
        if start:
            t = st.tokens.get(start)
            if t is None or t[4] <= time.monotonic() or t[0] != seg.id:
                return envelope_error(
                    400, 'Invalid or expired scan start token; '
                    'restart the scan without start')
            snap, bi, off = t[1], t[2], t[3]
        else:
            snap, bi, off = seg.snapshot(), 0, 0
        items, cur = snap.page(bi, off, limit)
        segs_wanted = not fields or 'segments' in fields
        data = [st.render(uid, rng, seg, fields, segs_wanted)
                for uid, rng in items]
        nxt = st.new_token(seg.id, snap, cur) if cur is not None else ''
        return envelope_ok(data, {'_next': nxt, 'total': snap.count()})

    # GET /api/entity/{table}/{field}/{value}
    def entity(self, segs, q, qlist, body, rec):
        st = self.st
        table, field, value = segs[2], segs[3], segs[4]
        fields = []
        for v in qlist.get('fields', []):
            fields.extend(f.strip() for f in v.split(',') if f.strip())
        with st.lock:
            uid = None
            if table == 'user' and field and value:
                uid, rng = st.lookup(field, value)
            if uid is None:
                return Reply(200, dumps({'status': 200, 'message': 'Not Found',
                                         'data': {'segments': ['not_found', 'all']}})
                             .encode())
            prof = st.render(uid, rng, None, fields,
                             not fields or 'segments' in fields)
        return Reply(200, dumps({
            'status': 200, 'message': 'success', 'data': prof,
            'meta': {'format': 'json', 'name': 'user', 'by_fields': [field],
                     'conflicts': None}}).encode())

    # ---- hooks

    def hook(self, segs, q, qlist, body):
        if self.client_address[0] != '127.0.0.1':
            return hook_json({'error': 'hooks answer 127.0.0.1 only'}, 403)
        try:
            return self.hook_route(segs, q, body)
        except HookError as e:
            return hook_json({'error': e.message}, e.status)
        except (ValueError, UnicodeDecodeError) as e:
            return hook_json({'error': str(e)}, 400)

    def hook_route(self, segs, q, body):
        st = self.st
        m = self.command
        name = segs[0] if segs else ''
        n = len(segs)

        def want(method):
            if m != method:
                raise HookError(405, 'use %s' % method)

        if name == 'health' and n == 1:
            want('GET')
            return hook_json({'ok': True})
        if name == 'events' and n == 1:
            want('GET')
            stream = q.get('stream')
            if not stream:
                raise HookError(400, 'missing parameter stream')
            offset = need_int(q, 'offset', 0, 0)
            with st.lock:
                s = st.streams.get(stream)
                chunks = list(s['chunks']) if s else []
            out = []
            idx = 0
            for chunk in chunks:
                lines = chunk_lines(chunk)
                if idx + len(lines) > offset:
                    out.extend(lines[max(0, offset - idx):])
                idx += len(lines)
            return hook_ndjson(out)
        if name == 'batches' and n == 1:
            want('GET')
            stream = q.get('stream')
            if not stream:
                raise HookError(400, 'missing parameter stream')
            with st.lock:
                s = st.streams.get(stream)
                b = list(s['batches']) if s else []
            return hook_ndjson([dumps(x) + '\n' for x in b])
        if name == 'counts' and n == 1:
            want('GET')
            with st.lock:
                streams = {k: {'events': v['events'],
                               'batches': len(v['batches']),
                               'rejected': v['rejected'],
                               'dryrun_batches': v['dryrun_batches'],
                               'dryrun_events': v['dryrun_events'],
                               'poisoned': v['poisoned']}
                           for k, v in st.streams.items()}
                if 'stream' in q:
                    return hook_json(streams.get(q['stream']) or {
                        'events': 0, 'batches': 0, 'rejected': 0,
                        'dryrun_batches': 0, 'dryrun_events': 0, 'poisoned': 0})
                return hook_json({'streams': streams, 'requests': st.requests,
                                  'status': dict(st.status_counts),
                                  'auth': dict(st.auth_counts),
                                  'connections': st.connections,
                                  'scan_tokens': len(st.tokens)})
        if name == 'requests' and n == 1:
            want('GET')
            lim = need_int(q, 'limit', REQUEST_LOG_KEEP, 1)
            with st.lock:
                lines = st.request_log[-lim:]
            return hook_ndjson(lines)
        if name == 'reset' and n == 1:
            want('POST')
            with st.lock:
                st.reset_collected()
                st.clear_tokens()
                if q.get('all') in ('1', 'true'):
                    st.load_seed()
            return hook_json({'ok': True})
        if name == 'segments' and n == 1:
            want('POST')
            specs = parse_values(body)
            made = []
            with st.lock:
                for spec in specs:
                    seg = st.create_segment(spec)
                    made.append({'id': seg.id, 'slug_name': seg.slug,
                                 'count': seg.members.count()})
            return hook_json({'created': made})
        if name == 'segment' and n in (2, 3):
            return self.hook_segment(segs[1], segs[2] if n == 3 else None, q, body)
        if name == 'profiles' and n == 1:
            want('POST')
            vals = parse_values(body)
            with st.lock:
                for p in vals:
                    st.put_profile(p)
            return hook_json({'stored': len(vals)})
        if segs == ['scan', 'expire']:
            want('POST')
            with st.lock:
                k = len(st.tokens)
                st.clear_tokens()
            return hook_json({'expired': k})
        if name == 'fault' and n == 1:
            want('POST')
            params = dict(q)
            if body.strip():
                b = strict_loads(body.decode('utf-8'))
                if not isinstance(b, dict):
                    raise HookError(400, 'body must be a JSON object')
                params.update(b)
            f = make_fault(params, st.fault_ids)
            with st.lock:
                st.faults.append(f)
            return hook_json(f.as_dict())
        if name == 'faults' and n == 1:
            if m == 'DELETE':
                with st.lock:
                    st.faults = []
                return hook_json({'ok': True})
            want('GET')
            with st.lock:
                return hook_json({'faults': [f.as_dict() for f in st.faults]})
        if segs == ['faults', 'clear']:
            want('POST')
            with st.lock:
                st.faults = []
            return hook_json({'ok': True})
        raise HookError(404, 'no such hook; see --help')

    def hook_segment(self, ref, op, q, body):
        st = self.st
        m = self.command
        with st.lock:
            seg = st.find_segment(ref)
        if seg is None:
            raise HookError(404, 'no segment %s' % ref)
        if op is None:
            if m == 'DELETE':
                with st.lock:
                    st.delete_segment(seg)
                return hook_json({'deleted': seg.id})
            if m != 'GET':
                raise HookError(405, 'use GET or DELETE')
            with st.lock:
                d = {'id': seg.id, 'slug_name': seg.slug}
                d.update(seg.members.describe())
            return hook_json(d)
        if op == 'members':
            if m != 'GET':
                raise HookError(405, 'use GET')
            lim = need_int(q, 'limit', 1 << 62, 0)
            with st.lock:
                snap = seg.snapshot()
            out = []
            cur = (0, 0)
            while cur is not None and len(out) < lim:
                items, cur = snap.page(cur[0], cur[1], min(10000, lim - len(out)))
                out.extend(dumps(u) + '\n' for u, _ in items)
            return hook_ndjson(out)
        if m != 'POST':
            raise HookError(405, 'use POST')
        if op in ('add', 'remove'):
            vals = parse_values(body)
            k = 0
            with st.lock:
                mem = seg.mutable()
                for v in vals:
                    if op == 'add':
                        k += mem.add(st.member_uid(v))
                    else:
                        if isinstance(v, dict):
                            v = v.get('_uid')
                        if not isinstance(v, str):
                            raise HookError(400, 'remove takes uids or objects with "_uid"')
                        k += mem.remove(v)
                cnt = mem.count()
            return hook_json({('added' if op == 'add' else 'removed'): k,
                              'count': cnt})
        if op in ('generate', 'remove-range'):
            count = need_int(q, 'count', None, 0)
            start = need_int(q, 'start', 0, 0)
            prefix = q.get('prefix', 'u-')
            if op == 'generate':
                domain = q.get('domain', DEFAULT_DOMAIN)
                fields = {}
                if body.strip():
                    fields = strict_loads(body.decode('utf-8'))
                    if not isinstance(fields, dict):
                        raise HookError(400, 'body must be a JSON object of fields')
                with st.lock:
                    k = seg.mutable().add_range(prefix, start, start + count,
                                                domain, fields)
                    cnt = seg.members.count()
                return hook_json({'added': k, 'count': cnt})
            with st.lock:
                k = seg.mutable().remove_range(prefix, start, start + count)
                cnt = seg.members.count()
            return hook_json({'removed': k, 'count': cnt})
        if op == 'clear':
            with st.lock:
                k = seg.members.count()
                seg.members = Members()
            return hook_json({'removed': k, 'count': 0})
        raise HookError(404, 'no such segment hook %s' % op)


# --------------------------------------------------------------------------
# main

def die(msg, code=2):
    sys.stderr.write('%s: %s\n' % (PROG, msg))
    sys.exit(code)


def main(argv):
    ap = argparse.ArgumentParser(
        prog='lytics-standin.py',
        usage='%(prog)s --port PORT --key-file FILE [--seed FILE] [--log FILE] '
              '[--ready-file FILE] [options]',
        description='A strict local stand-in for the Lytics API (collect, '
                    'segments, scan, entity) with test hooks.',
        epilog=USAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--port', type=int, required=True, metavar='PORT',
                    help='TCP port on 127.0.0.1; 0 picks a free one')
    ap.add_argument('--key-file', required=True, metavar='FILE',
                    help='file holding the API key (never pass it in argv)')
    ap.add_argument('--seed', metavar='FILE', help='JSON seed file (segments, members, profiles)')
    ap.add_argument('--log', metavar='FILE', help='append one JSON line per request here')
    ap.add_argument('--ready-file', metavar='FILE',
                    help='also write the start line here (atomically) once listening')
    ap.add_argument('--max-body', type=int, default=DEFAULT_MAX_BODY, metavar='BYTES',
                    help='largest request body in bytes; larger is 413 '
                         '(default %d)' % DEFAULT_MAX_BODY)
    ap.add_argument('--max-event-bytes', type=int, default=0, metavar='BYTES',
                    help='count an event whose compact JSON exceeds this many '
                         'bytes as rejected (default 0: no limit; Lytics '
                         'documents 16 KB per record in a batch)')
    ap.add_argument('--scan-ttl', type=float, default=DEFAULT_SCAN_TTL,
                    metavar='SECONDS',
                    help='seconds a scan _next token stays valid (default %g)'
                         % DEFAULT_SCAN_TTL)
    ap.add_argument('--accept-ndjson', action='store_true',
                    help='also accept newline-delimited JSON bodies on collect '
                         '(undocumented for Lytics; off by default)')
    opts = ap.parse_args(argv)

    try:
        with open(opts.key_file, 'rb') as f:
            key = f.read().strip()
    except OSError as e:
        die('cannot read key file: %s' % e.strerror)
    if not key:
        die('key file is empty')
    seed = {}
    if opts.seed:
        try:
            with open(opts.seed, 'rb') as f:
                seed = strict_loads(f.read().decode('utf-8'))
        except OSError as e:
            die('cannot read seed %s: %s' % (opts.seed, e.strerror))
        except ValueError as e:
            die('seed %s: invalid JSON: %s' % (opts.seed, e))
        if not isinstance(seed, dict):
            die('seed %s: must be a JSON object' % opts.seed)
    try:
        st = State(seed, opts)
    except (ValueError, HookError) as e:
        die('seed %s: %s' % (opts.seed, e))

    logf = None
    if opts.log:
        try:
            logf = open(opts.log, 'a', encoding='utf-8')
        except OSError as e:
            die('cannot open log %s: %s' % (opts.log, e.strerror))

    Handler.st = st
    Handler.key = key
    Handler.logf = logf
    try:
        srv = Server(('127.0.0.1', opts.port), Handler)
    except OSError as e:
        die('cannot listen on 127.0.0.1:%d: %s' % (opts.port, e.strerror), 1)
    port = srv.server_address[1]
    line = dumps({'url': 'http://127.0.0.1:%d' % port, 'pid': os.getpid()}) + '\n'

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if opts.ready_file:
        tmp = opts.ready_file + '.tmp%d' % os.getpid()
        with open(tmp, 'w') as f:
            f.write(line)
        os.rename(tmp, opts.ready_file)
    try:
        sys.stdout.write(line)
        sys.stdout.flush()
    except OSError:
        pass
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    if logf is not None:
        logf.close()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
