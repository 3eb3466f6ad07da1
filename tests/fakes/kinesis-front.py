#!/usr/bin/python3
"""A verifying, fault-injecting front for kinesalite (or kinesis-local).

Neither Kinesis peer checks signatures or ever throttles (test-peers.md
§2, §3), so kl's tests put this proxy between kl and the peer.  It checks
every request's SigV4 with botocore (sigv4check.py: service kinesis, the
client's own SignedHeaders, scope, 5-minute skew, session tokens), injects
seeded, deterministic faults, and forwards the rest over one keep-alive
connection per client connection.

Usage:
  /usr/bin/python3 tests/fakes/kinesis-front.py --port 0 --upstream URL
      --keys FILE [--sts-keys FILE] [--log FILE] [--region R] [--skew S]
      [--clock-offset S] [--account ID] [--seed N]
      [--put-record-fail P] [--call-throttle Q] [--http500 P] [--http503 P]
      [--expired-iterator P] [--drop P] [--latency-ms M]
      [--delete-after N] [--fault-ops OP,OP]

Binds 127.0.0.1 only (a free port with --port 0), prints one line
{"url":"http://127.0.0.1:PORT","pid":PID} on stdout, serves HTTP/1.1 with
keep-alive until SIGTERM (exit 0).

Credentials: --keys FILE (sigv4check.py format: {"AKID": {"secret": ...}})
and, with --sts-keys FILE (alias --issued), the temporary keys the fake STS
appends to its --issued FILE (one JSON line per key; re-read when an unknown
key id arrives).  Errors, all HTTP 400, JSON 1.1:
  MissingAuthenticationTokenException  no Authorization header
  IncompleteSignatureException         malformed Authorization / no date
  UnrecognizedClientException          unknown key id, wrong or missing
                                       session token
  InvalidSignatureException            wrong signature or scope, unsigned
                                       host/x-amz-*, "Signature expired"
  ExpiredTokenException                temporary key past its Expiration

Faults.  Each verified call n draws from random.Random("SEED:n"), so a run
with the same seed and the same call order fails the same calls and the
same records.  In order, first match wins:
  stream deleted   ResourceNotFoundException (400) for every call naming a
                   stream (StreamName, StreamARN or ShardIterator) once
                   --delete-after N calls have passed or the control
                   endpoint set "stream_deleted"
  queued           the next entries of "next" (control endpoint): "drop",
                   "http500", "http503", "throttle", "expired-iterator",
                   "stream-deleted" or "ok" (forward untouched)
  --drop P         close the connection without a reply
  --http500 P      500 {"__type":"InternalFailure",...}
  --http503 P      503 {"__type":"ServiceUnavailable",...}
  --call-throttle Q  400 ProvisionedThroughputExceededException for a whole
                   PutRecords, PutRecord or GetRecords call (not forwarded)
  --expired-iterator P  400 ExpiredIteratorException for GetRecords, not
                   forwarded, so the iterator's records are not consumed
  --put-record-fail P  each PutRecords entry fails with probability P: the
                   failed entries are removed before forwarding (truly not
                   written) and the reply is reassembled in request order,
                   failed entries carrying ErrorCode
                   ProvisionedThroughputExceededException and ErrorMessage,
                   FailedRecordCount counting them
  --latency-ms M   sleep M ms before answering each verified call
--fault-ops limits the random and queued faults to the named operations.

Control endpoints (no signature; loopback only):
  GET  /_front/config   current settings
  POST /_front/config   JSON object of settings to change: seed,
                        put_record_fail, call_throttle, http500, http503,
                        expired_iterator, drop, latency_ms, fault_ops (list
                        or null), stream_deleted (bool), delete_after (N:
                        delete after N more calls; null cancels), next (list
                        of queued faults, appended), clock_offset (seconds
                        added to the clock used for the skew check and the
                        Date header)
  GET  /_front/stats    counters: requests, calls, by_op, by_status,
                        by_code, faults, auth_failures, records_in,
                        records_failed, records_written, records_returned
  POST /_front/stats/reset  zero the counters

Log (--log FILE): one JSON line per request: t, n (verified call number),
op, stream, status, code, fault, records, failed, failed_upstream,
returned, access_key_id, signed_headers, token_sent, ms.  No secret,
session token or signature.
"""

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4check as sv  # noqa: E402

JSON_CT = "application/x-amz-json-1.1"
HOP = {"connection", "keep-alive", "proxy-authenticate",
       "proxy-authorization", "te", "trailer", "trailers",
       "transfer-encoding", "upgrade", "expect", "content-length",
       "accept-encoding"}
AUTH_CODE = {
    sv.MISSING: "MissingAuthenticationTokenException",
    sv.INCOMPLETE: "IncompleteSignatureException",
    sv.UNKNOWN_KEY: "UnrecognizedClientException",
    sv.BAD_TOKEN: "UnrecognizedClientException",
    sv.SKEW: "InvalidSignatureException",
    sv.SIGNATURE: "InvalidSignatureException",
    sv.EXPIRED: "ExpiredTokenException",
}
FAULTS = ("drop", "http500", "http503", "throttle", "expired-iterator",
          "stream-deleted", "ok")
SETTINGS = ("seed", "put_record_fail", "call_throttle", "http500", "http503",
            "expired_iterator", "drop", "latency_ms", "fault_ops",
            "stream_deleted")


class KinesisError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.keys = sv.KeyStore(args.keys, args.sts_keys)
        self.verifier = sv.Verifier(self.keys, "kinesis", args.region,
                                    args.skew, args.clock_offset)
        u = urlsplit(args.upstream)
        self.up_host = u.hostname
        self.up_port = u.port or 80
        self.account = args.account
        self.log = sv.JsonLog(args.log)
        self.cfg = {
            "seed": args.seed, "put_record_fail": args.put_record_fail,
            "call_throttle": args.call_throttle, "http500": args.http500,
            "http503": args.http503,
            "expired_iterator": args.expired_iterator, "drop": args.drop,
            "latency_ms": args.latency_ms,
            "fault_ops": args.fault_ops.split(",") if args.fault_ops else None,
            "stream_deleted": False,
        }
        self.deleted_at = args.delete_after
        self.queue = []
        self.calls = 0
        self.reset_stats()

    def reset_stats(self):
        self.stats = {"requests": 0, "calls": 0, "by_op": {}, "by_status": {},
                      "by_code": {}, "faults": {}, "auth_failures": {},
                      "records_in": 0, "records_failed": 0,
                      "records_written": 0, "records_returned": 0}

    def config_view(self):
        out = dict(self.cfg)
        out["delete_after"] = (None if self.deleted_at is None
                               else max(0, self.deleted_at - self.calls))
        out["next"] = list(self.queue)
        out["clock_offset"] = self.verifier.clock_offset
        return out

    def set_config(self, new):
        with self.lock:
            for k, v in new.items():
                if k in SETTINGS:
                    self.cfg[k] = v
                elif k == "delete_after":
                    self.deleted_at = None if v is None else self.calls + int(v)
                elif k == "clock_offset":
                    self.verifier.clock_offset = float(v or 0)
                    Handler.clock_offset = self.verifier.clock_offset
                elif k == "next":
                    bad = [f for f in v if f not in FAULTS]
                    if bad:
                        raise ValueError("unknown fault %r" % bad[0])
                    self.queue.extend(v)
                else:
                    raise ValueError("unknown setting %r" % k)
            return self.config_view()

    def bump(self, key, name, by=1):
        d = self.stats[key]
        d[name] = d.get(name, 0) + by


def kinesis_error(code, message):
    return json.dumps({"__type": code, "message": message},
                      separators=(",", ":"))


def throttle_text(stream, account):
    if stream:
        return ("Rate exceeded for shard in stream %s under account %s."
                % (stream, account))
    return "Rate exceeded for shard."


def stream_named(req):
    if not isinstance(req, dict):
        return None
    name = req.get("StreamName")
    if not name and isinstance(req.get("StreamARN"), str):
        name = req["StreamARN"].rsplit("/", 1)[-1]
    return name


class Handler(sv.FakeHandler):
    server_version = "kl-kinesis-front"
    state = None
    tls = threading.local()

    def do_POST(self):
        self.dispatch()

    def do_GET(self):
        self.dispatch()

    def dispatch(self):
        st = self.state
        t0 = time.time()
        try:
            body = self.read_body()
        except sv.BodyError as e:
            self.close_connection = True
            self.send_reply(400, kinesis_error("SerializationException",
                                               str(e)), JSON_CT)
            return
        if self.path.startswith("/_front/"):
            self.control(body)
            return
        target = self.headers.get("X-Amz-Target") or ""
        op = target.rsplit(".", 1)[-1] if target else None
        entry = {"t": sv.utc_stamp(), "op": op,
                 "token_sent": "X-Amz-Security-Token" in self.headers,
                 "signed_headers": sv.signed_headers_of(
                     self.headers.get("Authorization"))}
        try:
            req = json.loads(body) if body else {}
        except ValueError:
            req = None
        stream = stream_named(req)
        if stream:
            entry["stream"] = stream
        with st.lock:
            st.stats["requests"] += 1
        try:
            ident = st.verifier.verify(self.command, self.path,
                                       self.header_pairs(), body)
        except sv.AuthError as e:
            code = AUTH_CODE[e.kind]
            entry.update(access_key_id=e.akid, status=400, code=code,
                         fault=None)
            with st.lock:
                st.bump("auth_failures", code)
            self.answer(400, kinesis_error(code, e.message), entry, t0)
            return
        entry["access_key_id"] = ident.akid

        with st.lock:
            st.calls += 1
            n = st.calls
            cfg = dict(st.cfg)
            deleted = cfg["stream_deleted"] or (
                st.deleted_at is not None and n > st.deleted_at)
            applies = not cfg["fault_ops"] or op in cfg["fault_ops"]
            forced = st.queue.pop(0) if (st.queue and applies) else None
            st.stats["calls"] += 1
            st.bump("by_op", str(op))
        entry["n"] = n
        rng = random.Random("%s:%d" % (cfg["seed"], n))
        draws = [rng.random() for _ in range(5)]
        names_stream = isinstance(req, dict) and bool(
            req.get("StreamName") or req.get("StreamARN")
            or req.get("ShardIterator"))
        data_op = op in ("PutRecords", "PutRecord", "GetRecords")

        fault = None
        if deleted and names_stream:
            fault = "stream-deleted"
        elif forced is not None:
            fault = forced
        elif applies:
            if draws[0] < cfg["drop"]:
                fault = "drop"
            elif draws[1] < cfg["http500"]:
                fault = "http500"
            elif draws[2] < cfg["http503"]:
                fault = "http503"
            elif data_op and draws[3] < cfg["call_throttle"]:
                fault = "throttle"
            elif op == "GetRecords" and draws[4] < cfg["expired_iterator"]:
                fault = "expired-iterator"
        if fault == "ok":
            fault = None
        entry["fault"] = fault
        if fault:
            with st.lock:
                st.bump("faults", fault)
        if cfg["latency_ms"]:
            time.sleep(cfg["latency_ms"] / 1000.0)

        if isinstance(req, dict) and op == "PutRecords" and isinstance(
                req.get("Records"), list):
            entry["records"] = len(req["Records"])
        elif op == "PutRecord":
            entry["records"] = 1
        if entry.get("records") and fault != "drop":
            with st.lock:
                st.stats["records_in"] += entry["records"]

        if fault == "drop":
            entry["status"] = None
            self.done(entry, t0)
            self.drop_connection()
            return
        err = None
        if fault == "stream-deleted":
            err = KinesisError("ResourceNotFoundException",
                               "Stream %s under account %s not found."
                               % (stream or "", st.account))
        elif fault == "http500":
            err = KinesisError("InternalFailure", "Internal service "
                               "failure.", 500)
        elif fault == "http503":
            err = KinesisError("ServiceUnavailable", "Service Unavailable",
                               503)
        elif fault == "throttle":
            err = KinesisError("ProvisionedThroughputExceededException",
                               throttle_text(stream, st.account))
        elif fault == "expired-iterator":
            now = datetime.now(timezone.utc)
            fmt = "%a %b %d %H:%M:%S UTC %Y"
            err = KinesisError("ExpiredIteratorException", "Iterator expired. "
                               "The iterator was created at time %s while "
                               "right now it is %s which is further in the "
                               "future than the tolerated delay of 300000 "
                               "milliseconds." % (
                                   datetime.fromtimestamp(
                                       now.timestamp() - 301,
                                       timezone.utc).strftime(fmt),
                                   now.strftime(fmt)))
        if err is not None:
            entry.update(status=err.status, code=err.code)
            self.answer(err.status, kinesis_error(err.code, err.message),
                        entry, t0)
            return

        p = cfg["put_record_fail"]
        if (op == "PutRecords" and applies and p > 0 and forced is None
                and isinstance(req, dict)
                and isinstance(req.get("Records"), list)
                and 1 <= len(req["Records"]) <= 500):
            self.put_records_partial(req, body, rng, p, stream, entry, t0)
            return
        self.proxy(body, entry, t0)

    def put_records_partial(self, req, body, rng, p, stream, entry, t0):
        st = self.state
        recs = req["Records"]
        failed = set(i for i in range(len(recs)) if rng.random() < p)
        if not failed:
            self.proxy(body, entry, t0)
            return
        entry["fault"] = "put-record-fail"
        entry["failed"] = len(failed)
        with st.lock:
            st.bump("faults", "put-record-fail")
            st.stats["records_failed"] += len(failed)
        keep = [r for i, r in enumerate(recs) if i not in failed]
        up = None
        headers = [("x-amzn-RequestId", str(uuid.uuid4()))]
        if keep:
            fwd = dict(req)
            fwd["Records"] = keep
            try:
                status, headers, data = self.upstream(
                    json.dumps(fwd, separators=(",", ":")).encode())
            except (OSError, http.client.HTTPException) as e:
                entry.update(status=500, code="InternalFailure")
                self.answer(500, kinesis_error("InternalFailure",
                                               "kinesis-front: upstream: %s"
                                               % e), entry, t0)
                return
            if status != 200:
                self.relay(status, headers, data, entry, t0)
                return
            up = json.loads(data)
        msg = throttle_text(stream, st.account)
        out_recs, k, up_failed = [], 0, 0
        for i in range(len(recs)):
            if i in failed:
                out_recs.append({
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": msg})
            else:
                r = up["Records"][k]
                k += 1
                if r.get("ErrorCode"):
                    up_failed += 1
                out_recs.append(r)
        out = dict(up or {})
        out["FailedRecordCount"] = len(failed) + up_failed
        out["Records"] = out_recs
        entry["failed_upstream"] = up_failed
        self.relay(200, headers, json.dumps(out, separators=(",", ":"))
                   .encode(), entry, t0)

    def upstream(self, body):
        """POST body upstream; returns (status, headers, data)."""
        st = self.state
        hdrs = {}
        for k, v in self.headers.items():
            if k.lower() not in HOP:
                hdrs[k] = v
        hdrs["Content-Length"] = str(len(body))
        for attempt in (0, 1):
            conn = getattr(self.tls, "conn", None)
            fresh = conn is None
            if fresh:
                conn = http.client.HTTPConnection(st.up_host, st.up_port,
                                                  timeout=60)
                self.tls.conn = conn
            try:
                conn.request(self.command, self.path, body, hdrs)
                r = conn.getresponse()
                data = r.read()
                if r.will_close:
                    conn.close()
                    self.tls.conn = None
                return r.status, r.getheaders(), data
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError, http.client.CannotSendRequest) as e:
                conn.close()
                self.tls.conn = None
                if fresh or attempt:
                    raise e
            except Exception:
                conn.close()
                self.tls.conn = None
                raise
        raise OSError("unreachable")

    def proxy(self, body, entry, t0):
        try:
            status, headers, data = self.upstream(body)
        except (OSError, http.client.HTTPException) as e:
            entry.update(status=500, code="InternalFailure",
                         fault=entry.get("fault") or "upstream-error")
            self.answer(500, kinesis_error("InternalFailure",
                                           "kinesis-front: upstream: %s" % e),
                        entry, t0)
            return
        self.relay(status, headers, data, entry, t0)

    def relay(self, status, headers, data, entry, t0):
        st = self.state
        entry["status"] = status
        op = entry.get("op")
        try:
            out = json.loads(data) if data else None
        except ValueError:
            out = None
        if status != 200 and isinstance(out, dict):
            code = str(out.get("__type", ""))
            entry["code"] = code.split(":")[0].rsplit("#", 1)[-1] or None
        elif status == 200 and isinstance(out, dict):
            with st.lock:
                if op == "GetRecords":
                    n = len(out.get("Records") or [])
                    entry["returned"] = n
                    st.stats["records_returned"] += n
                elif op == "PutRecords":
                    ok = len(out.get("Records") or []) - int(
                        out.get("FailedRecordCount") or 0)
                    st.stats["records_written"] += ok
                elif op == "PutRecord":
                    st.stats["records_written"] += 1
        keep = [(k, v) for k, v in headers
                if k.lower() not in HOP and k.lower() not in ("date", "server")]
        ctype = None
        rest = []
        for k, v in keep:
            if k.lower() == "content-type":
                ctype = v
            else:
                rest.append((k, v))
        self.send_reply(status, data, ctype, rest)
        self.done(entry, t0)

    def answer(self, status, body, entry, t0):
        self.send_reply(status, body, JSON_CT, [
            ("x-amzn-RequestId", str(uuid.uuid4())),
            ("x-amzn-ErrorType", json.loads(body)["__type"])])
        self.done(entry, t0)

    def done(self, entry, t0):
        st = self.state
        entry["ms"] = round((time.time() - t0) * 1000, 1)
        with st.lock:
            st.bump("by_status", str(entry.get("status")))
            if entry.get("code"):
                st.bump("by_code", entry["code"])
        st.log.write(entry)

    def control(self, body):
        st = self.state
        path = self.path.split("?")[0]
        try:
            if path == "/_front/config" and self.command == "POST":
                new = json.loads(body or b"{}")
                if not isinstance(new, dict):
                    raise ValueError("expected a JSON object")
                out = st.set_config(new)
            elif path == "/_front/config":
                with st.lock:
                    out = st.config_view()
            elif path == "/_front/stats" and self.command == "GET":
                with st.lock:
                    out = json.loads(json.dumps(st.stats))
            elif path == "/_front/stats/reset" and self.command == "POST":
                with st.lock:
                    st.reset_stats()
                    out = st.stats
            else:
                self.send_reply(404, '{"error":"no such control path"}\n',
                                "application/json")
                return
        except (ValueError, TypeError) as e:
            self.send_reply(400, json.dumps({"error": str(e)}) + "\n",
                            "application/json")
            return
        self.send_reply(200, json.dumps(out, sort_keys=True) + "\n",
                        "application/json")


def prob(s):
    v = float(s)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError("a probability is 0..1")
    return v


def main():
    ap = argparse.ArgumentParser(
        description="Verifying, fault-injecting Kinesis front for kl tests.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--keys")
    ap.add_argument("--sts-keys", "--issued", dest="sts_keys")
    ap.add_argument("--log")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--skew", type=int, default=300)
    ap.add_argument("--clock-offset", type=float, default=0.0)
    ap.add_argument("--account", default="123456789012")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--put-record-fail", type=prob, default=0.0)
    ap.add_argument("--call-throttle", type=prob, default=0.0)
    ap.add_argument("--http500", type=prob, default=0.0)
    ap.add_argument("--http503", type=prob, default=0.0)
    ap.add_argument("--expired-iterator", type=prob, default=0.0)
    ap.add_argument("--drop", type=prob, default=0.0)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--delete-after", type=int)
    ap.add_argument("--fault-ops")
    args = ap.parse_args()
    if not args.keys and not args.sts_keys:
        ap.error("give --keys FILE and/or --sts-keys FILE")
    Handler.state = State(args)
    Handler.clock_offset = args.clock_offset
    sv.run_server(Handler, args.port)


if __name__ == "__main__":
    main()
