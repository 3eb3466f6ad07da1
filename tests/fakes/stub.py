#!/usr/bin/python3
"""A canned-reply HTTP stub for kl's tests: exact fault sequences.

Usage:
  /usr/bin/python3 tests/fakes/stub.py --port 0 --replies FILE [--log FILE]

Binds 127.0.0.1 only (a free port with --port 0), prints one line
{"url":"http://127.0.0.1:PORT","pid":PID} on stdout, then serves HTTP/1.1
with keep-alive until SIGTERM (exit 0).

Replies file: one JSON object per line, served in order, one per request,
whatever the request; once they run out, the last one is served again.
Members (all optional):
  "status": 200                  the HTTP status
  "headers": {"Name": "value"}   reply headers; a value "@date+S" (or
                                 "@date-S") becomes the HTTP date S
                                 seconds from now
  "body": "text"                 the body, as given
  "json": {...}                  the body, as compact JSON (with
                                 Content-Type application/x-amz-json-1.1
                                 unless headers name one)
  "delay_ms": 0                  wait before answering
  "close": false                 close the connection after the reply
  "drop": false                  close the connection without a reply
Without "headers" Date, a Date of now is sent, as servers do.

Log file (--log): one JSON line per request, in arrival order:
  {"n":1,"conn":1,"method":"POST","path":"/","headers":{"host":...},
   "body":"...","len":123}
Header names are lower-cased; "conn" numbers the TCP connections, so a
test can tell that a client kept its connection open.
"""
import argparse
import email.utils
import http.server
import json
import os
import signal
import socketserver
import sys
import threading
import time


class State:
    def __init__(self, replies, log):
        self.replies = replies
        self.log = log
        self.n = 0
        self.conns = 0
        self.lock = threading.Lock()

    def next_conn(self):
        with self.lock:
            self.conns += 1
            return self.conns

    def take(self, entry):
        with self.lock:
            self.n += 1
            entry["n"] = self.n
            i = min(self.n, len(self.replies)) - 1
            if self.log:
                with open(self.log, "a") as f:
                    f.write(json.dumps(entry, sort_keys=True) + "\n")
            return self.replies[i] if self.replies else {"status": 200}


def http_date(offset):
    return email.utils.formatdate(time.time() + offset, usegmt=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kl-stub"
    sys_version = ""

    def setup(self):
        super().setup()
        self.conn_id = self.server.state.next_conn()

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        entry = {
            "conn": self.conn_id,
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "len": len(body),
        }
        r = self.server.state.take(entry)
        if r.get("delay_ms"):
            time.sleep(r["delay_ms"] / 1000.0)
        if r.get("drop"):
            self.close_connection = True
            return
        headers = dict(r.get("headers") or {})
        if "json" in r:
            out = json.dumps(r["json"], separators=(",", ":")).encode()
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/x-amz-json-1.1"
        else:
            out = r.get("body", "").encode()
        if not any(k.lower() == "date" for k in headers):
            headers["Date"] = http_date(0)
        self.send_response_only(r.get("status", 200))
        for k, v in headers.items():
            if isinstance(v, str) and v.startswith("@date"):
                v = http_date(float(v[5:] or 0))
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(out)))
        if r.get("close"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--replies", required=True)
    ap.add_argument("--log")
    a = ap.parse_args()
    replies = []
    with open(a.replies) as f:
        for line in f:
            if line.strip():
                replies.append(json.loads(line))
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(replies, a.log)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(json.dumps({"url": "http://127.0.0.1:%d" % srv.server_address[1],
                      "pid": os.getpid()}), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
