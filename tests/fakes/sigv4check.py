"""SigV4 verification and key lookup shared by kl's test fakes.

The fake STS (sts.py) and the verifying Kinesis front (kinesis-front.py)
both check every request's AWS Signature Version 4 the way AWS does, with
botocore as the independent oracle: the canonical request, the string to
sign and the signature are recomputed by botocore's own SigV4Auth over the
headers the client itself listed in SignedHeaders, with the secret looked
up by access key id.  Only the choice of headers is ours (the client's
list, including headers botocore would never sign itself); every
canonicalisation step is botocore's.  A fake built on this is therefore a
check on kl's signer, not a copy of it.

Checks, in the order AWS reports them:
  1. an Authorization header (else MISSING), of algorithm AWS4-HMAC-SHA256
     with Credential, SignedHeaders and Signature (else INCOMPLETE), and an
     X-Amz-Date (or Date) header (else INCOMPLETE);
  2. the credential scope: date == the X-Amz-Date day, region and service
     as configured, terminator aws4_request (else SIGNATURE);
  3. SignedHeaders lower case, sorted, naming host, x-amz-date (or date)
     and every x-amz-* header sent (else SIGNATURE);
  4. the access key id is known (else UNKNOWN_KEY); a temporary key needs
     X-Amz-Security-Token equal to its session token, and a long-term key
     must not send one (else BAD_TOKEN);
  5. X-Amz-Date within the allowed skew (300 s) of the fake's clock
     (else SKEW, "Signature expired" / "Signature not yet current");
  6. x-amz-content-sha256, when sent, equals the body's hash, and the
     signature matches (else SIGNATURE, with the canonical request and the
     string to sign botocore expected, the session token redacted);
  7. a temporary key has not expired (else EXPIRED).

Key sources (KeyStore):
  * the keys file, JSON: {"AKID": {"secret": "...", "account": "123456789012",
    "arn": "arn:aws:iam::123456789012:user/test"}, ...}; a value may also be
    just the secret string.  Optional members: "token" (the key is then a
    temporary key that requires this session token), "expiration" (ISO-8601
    UTC or epoch seconds), "user_id".  Re-read when its mtime changes.
  * the issued-credentials file, written by sts.py --issued FILE and read by
    kinesis-front.py --sts-keys FILE: JSON lines, one object per issued key:
      {"access_key_id": "ASIA...", "secret_access_key": "...",
       "session_token": "...", "expiration": "2026-01-02T03:04:05Z",
       "expiration_epoch": 1767323045, "account": "123456789012",
       "arn": "arn:aws:sts::123456789012:assumed-role/Role/Session",
       "user_id": "AROA...:Session", "role_arn": "arn:aws:iam::...:role/Role",
       "issued_epoch": 1767322744}
    Appended one line per key; read incrementally (complete lines only).

Nothing here logs or returns a secret; error messages redact the session
token.
"""

import calendar
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

MISSING = "missing"
INCOMPLETE = "incomplete"
UNKNOWN_KEY = "unknown-key"
BAD_TOKEN = "bad-token"
SKEW = "skew"
SIGNATURE = "signature"
EXPIRED = "expired"

AMZ_FMT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

MISMATCH_TEXT = ("The request signature we calculated does not match the "
                 "signature you provided. Check your AWS Secret Access Key "
                 "and signing method. Consult the service documentation for "
                 "details.")


class AuthError(Exception):
    """A failed check: kind is one of the constants above."""

    def __init__(self, kind, message, akid=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.akid = akid


class Identity:
    """The verified caller: key id, account, ARN and key record."""

    def __init__(self, akid, rec, signed_headers):
        self.akid = akid
        self.rec = rec
        self.account = rec.get("account", "123456789012")
        self.arn = rec.get("arn") or (
            "arn:aws:iam::%s:user/%s" % (self.account, akid.lower()))
        self.user_id = rec.get("user_id") or derived_id("AIDA", akid)
        self.temporary = bool(rec.get("session_token"))
        self.role_arn = rec.get("role_arn")
        self.signed_headers = signed_headers


def derived_id(prefix, seed):
    """A stable 21-character IAM-style unique id (AIDA..., AROA...)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    h = hashlib.sha256(seed.encode()).digest()
    return prefix + "".join(alphabet[b % 32] for b in h[:17])


def iso8601(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_time(v):
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    v = v.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return float(calendar.timegm(time.strptime(v, fmt)))
        except ValueError:
            pass
    raise ValueError("bad time %r" % v)


class KeyStore:
    """Secrets by access key id, from the keys file and the issued file.

    Records are normalised to dicts with "secret", optional "session_token",
    optional "expiration_epoch", "account", "arn", "user_id", "role_arn".
    """

    def __init__(self, keys_path=None, issued_path=None):
        self.keys_path = keys_path
        self.issued_path = issued_path
        self.lock = threading.Lock()
        self.static = {}
        self.issued = {}
        self.keys_mtime = None
        self.issued_off = 0
        self.issued_ino = None
        self._reload_keys()
        self._read_issued()

    def _reload_keys(self):
        if not self.keys_path:
            return
        st = os.stat(self.keys_path)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self.keys_mtime:
            return
        with open(self.keys_path, encoding="utf-8") as f:
            raw = json.load(f)
        keys = {}
        for akid, v in raw.items():
            if isinstance(v, str):
                v = {"secret": v}
            rec = {"secret": v["secret"],
                   "account": str(v.get("account", "123456789012")),
                   "arn": v.get("arn"), "user_id": v.get("user_id")}
            if v.get("token"):
                rec["session_token"] = v["token"]
            if v.get("expiration") is not None:
                rec["expiration_epoch"] = parse_time(v["expiration"])
            keys[akid] = rec
        self.static = keys
        self.keys_mtime = stamp

    def _read_issued(self):
        if not self.issued_path:
            return
        try:
            f = open(self.issued_path, "rb")
        except FileNotFoundError:
            return
        with f:
            ino = os.fstat(f.fileno()).st_ino
            if ino != self.issued_ino:
                self.issued_ino, self.issued_off = ino, 0
            f.seek(self.issued_off)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return
        for line in data[:end].split(b"\n"):
            line = line.strip()
            if not line:
                continue
            try:
                o = json.loads(line)
                self.issued[o["access_key_id"]] = {
                    "secret": o["secret_access_key"],
                    "session_token": o["session_token"],
                    "expiration_epoch": float(o["expiration_epoch"]),
                    "account": o.get("account", "123456789012"),
                    "arn": o.get("arn"), "user_id": o.get("user_id"),
                    "role_arn": o.get("role_arn")}
            except (ValueError, KeyError, TypeError):
                continue
        self.issued_off += end + 1

    def add_issued(self, akid, rec):
        """Remember a key this process issued (sts.py)."""
        with self.lock:
            self.issued[akid] = rec

    def lookup(self, akid):
        with self.lock:
            try:
                self._reload_keys()
            except (OSError, ValueError):
                pass
            rec = self.static.get(akid) or self.issued.get(akid)
            if rec is None:
                self._read_issued()
                rec = self.issued.get(akid)
            return rec


def _amz_date(headers):
    """(X-Amz-Date value, epoch, name of the header it came from)."""
    v = headers.get("x-amz-date")
    if v is not None:
        try:
            return v, calendar.timegm(time.strptime(v.strip(), AMZ_FMT)), "x-amz-date"
        except ValueError:
            raise AuthError(INCOMPLETE, "Date must be in ISO-8601 'basic "
                            "format'. Got '%s'. See http://en.wikipedia.org/"
                            "wiki/ISO_8601" % v)
    v = headers.get("date")
    if v is not None:
        try:
            d = parsedate_to_datetime(v)
            e = calendar.timegm(d.utctimetuple())
            return time.strftime(AMZ_FMT, time.gmtime(e)), e, "date"
        except (TypeError, ValueError):
            pass
    raise AuthError(INCOMPLETE, "Authorization header requires existence of "
                    "either a 'X-Amz-Date' or a 'Date' header.")


def parse_authorization(value):
    """Split an Authorization value into (credential, signed, signature)."""
    value = value.strip()
    alg, _, rest = value.partition(" ")
    if alg != "AWS4-HMAC-SHA256":
        raise AuthError(INCOMPLETE, "Unsupported AWS 'algorithm': '%s'" % alg)
    parts = {}
    for item in rest.split(","):
        k, eq, v = item.strip().partition("=")
        if eq:
            parts[k.strip()] = v.strip()
    missing = [k for k in ("Credential", "Signature", "SignedHeaders")
               if not parts.get(k)]
    if missing:
        raise AuthError(INCOMPLETE, " ".join(
            "Authorization header requires '%s' parameter." % k
            for k in missing) + " Authorization=" + redact_sig(value))
    return parts["Credential"], parts["SignedHeaders"], parts["Signature"]


def signed_headers_of(value):
    """The SignedHeaders list of an Authorization value, for logs."""
    m = re.search(r"SignedHeaders=([^,\s]*)", value or "")
    return m.group(1) if m else None


def redact_sig(value):
    return re.sub(r"Signature=[0-9a-fA-F]*", "Signature=<redacted>", value)


class _Oracle(SigV4Auth):
    """botocore's SigV4Auth, told which headers the client signed."""

    def __init__(self, creds, service, region, signed, pairs):
        super().__init__(creds, service, region)
        self._signed = signed
        self._pairs = pairs

    def headers_to_sign(self, request):
        m = HTTPHeaders()
        for name in self._signed:
            vals = [v for k, v in self._pairs if k.lower() == name]
            for v in vals or [""]:
                m[name] = v
        return m


class Verifier:
    """Checks one request's SigV4 for one service and region."""

    def __init__(self, keystore, service, region="us-east-1", skew=300,
                 clock_offset=0):
        self.keys = keystore
        self.service = service
        self.region = region
        self.skew = skew
        self.clock_offset = clock_offset

    def now(self):
        return time.time() + self.clock_offset

    def verify(self, method, raw_path, header_pairs, body):
        """Return an Identity or raise AuthError.

        header_pairs: list of (name, value) as received, in order;
        raw_path: the request target as sent (path and query).
        """
        headers = {}
        for k, v in header_pairs:
            headers.setdefault(k.lower(), v)
        auth = headers.get("authorization")
        if auth is None:
            raise AuthError(MISSING, "Missing Authentication Token")
        cred, signed_s, sig = parse_authorization(auth)
        amz, amz_epoch, date_hdr = _amz_date(headers)

        cparts = cred.split("/")
        if len(cparts) != 5:
            raise AuthError(INCOMPLETE, "Credential should have 5 parts "
                            "(AKID/date/region/service/aws4_request): '%s'"
                            % cred)
        akid, cdate, cregion, cservice, term = cparts
        if cdate != amz[:8]:
            raise AuthError(SIGNATURE, "Date in Credential scope does not "
                            "match YYYYMMDD from ISO-8601 version of date "
                            "from HTTP: '%s' != '%s', from '%s'."
                            % (cdate, amz[:8], date_hdr), akid)
        if cregion != self.region:
            raise AuthError(SIGNATURE, "Credential should be scoped to a "
                            "valid region, not '%s'. " % cregion, akid)
        if cservice != self.service:
            raise AuthError(SIGNATURE, "Credential should be scoped to "
                            "correct service: '%s'. " % self.service, akid)
        if term != "aws4_request":
            raise AuthError(SIGNATURE, "Credential should be scoped with a "
                            "valid terminator: 'aws4_request', not '%s'. "
                            % term, akid)

        signed = signed_s.split(";")
        if signed != sorted(set(h.lower() for h in signed)):
            raise AuthError(SIGNATURE, "SignedHeaders must be lower case, "
                            "sorted and without duplicates: '%s'" % signed_s,
                            akid)
        if "host" not in signed:
            raise AuthError(SIGNATURE, "'Host' or ':authority' must be a "
                            "'SignedHeader' in the AWS Authorization.", akid)
        if date_hdr not in signed:
            raise AuthError(SIGNATURE, "'%s' must be a 'SignedHeader' in the "
                            "AWS Authorization." % date_hdr, akid)
        for name in sorted(headers):
            if name.startswith("x-amz-") and name not in signed:
                raise AuthError(SIGNATURE, "Header '%s' is not signed; every "
                                "x-amz-* header must be in SignedHeaders: "
                                "'%s'" % (name, signed_s), akid)

        rec = self.keys.lookup(akid)
        if rec is None:
            raise AuthError(UNKNOWN_KEY, "The security token included in "
                            "the request is invalid.", akid)
        token = headers.get("x-amz-security-token")
        want = rec.get("session_token")
        if want is not None:
            if token is None or not hmac.compare_digest(
                    token.encode(), want.encode()):
                raise AuthError(BAD_TOKEN, "The security token included in "
                                "the request is invalid.", akid)
        elif token is not None:
            raise AuthError(BAD_TOKEN, "The security token included in the "
                            "request is invalid.", akid)

        now = self.now()

        def stamp(t):
            return time.strftime(AMZ_FMT, time.gmtime(t))
        mins = self.skew // 60
        if amz_epoch < now - self.skew:
            raise AuthError(SKEW, "Signature expired: %s is now earlier than "
                            "%s (%s - %d min.)" % (
                                amz, stamp(now - self.skew), stamp(now),
                                mins), akid)
        if amz_epoch > now + self.skew:
            raise AuthError(SKEW, "Signature not yet current: %s is still "
                            "later than %s (%s + %d min.)" % (
                                amz, stamp(now + self.skew), stamp(now),
                                mins), akid)

        body_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        csha = headers.get("x-amz-content-sha256")
        if csha is not None and csha.strip() != body_hash:
            raise AuthError(SIGNATURE, "The provided 'x-amz-content-sha256' "
                            "header does not match what was computed.", akid)

        split = urlsplit(raw_path)
        path = split.path or "/"
        params = parse_qsl(split.query, keep_blank_values=True)
        host = headers.get("host", "")
        req = AWSRequest(method=method, url="http://%s%s" % (host, path),
                         data=body, params=params)
        for k, v in header_pairs:
            req.headers[k] = v
        req.context["timestamp"] = amz
        oracle = _Oracle(Credentials(akid, rec["secret"], want),
                         self.service, self.region, signed, header_pairs)
        creq = oracle.canonical_request(req)
        sts = oracle.string_to_sign(req, creq)
        expect = oracle.signature(sts, req)
        if not hmac.compare_digest(expect.encode(), sig.strip().encode()):
            shown = creq
            if token:
                shown = shown.replace(token, "<redacted>")
            raise AuthError(SIGNATURE, "%s\n\nThe Canonical String for this "
                            "request should have been\n'%s'\n\nThe "
                            "String-to-Sign should have been\n'%s'\n"
                            % (MISMATCH_TEXT, shown, sts), akid)

        exp = rec.get("expiration_epoch")
        if exp is not None and now >= exp:
            raise AuthError(EXPIRED, "The security token included in the "
                            "request is expired", akid)
        return Identity(akid, rec, signed_s)


# Server plumbing shared by the fakes: an HTTP/1.1 keep-alive handler base,
# a JSON-lines log, and start-up (bind 127.0.0.1, print the start line,
# exit 0 on SIGTERM).


class JsonLog:
    """Appends one JSON object per line; flushed at once; thread-safe."""

    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8") if path else None
        self.lock = threading.Lock()

    def write(self, obj):
        if self.f is None:
            return
        line = json.dumps(obj, separators=(",", ":"), sort_keys=True)
        with self.lock:
            self.f.write(line + "\n")
            self.f.flush()


def utc_stamp(epoch=None):
    epoch = time.time() if epoch is None else epoch
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + \
        ".%03dZ" % int((epoch % 1) * 1000)


class BodyError(Exception):
    pass


class FakeHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 with Content-Length (or chunked) bodies."""

    protocol_version = "HTTP/1.1"
    server_version = "kl-fake"
    sys_version = ""
    clock_offset = 0.0

    def log_message(self, fmt, *args):
        pass

    def date_time_string(self, timestamp=None):
        return super().date_time_string(time.time() + self.clock_offset
                                        if timestamp is None else timestamp)

    def header_pairs(self):
        return list(self.headers.items())

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            out = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise BodyError("truncated chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                out.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(out)
        n = self.headers.get("Content-Length")
        if n is None:
            return b""
        try:
            n = int(n)
        except ValueError:
            raise BodyError("bad Content-Length")
        body = self.rfile.read(n)
        if len(body) != n:
            raise BodyError("truncated body")
        return body

    def send_reply(self, status, body, ctype, headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def drop_connection(self):
        """Close the connection without a reply (a dropped connection)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def run_server(handler_cls, port, extra=None):
    """Bind 127.0.0.1:port, print the start line, serve until SIGTERM."""
    srv = _Server(("127.0.0.1", port), handler_cls)
    host, port = srv.server_address[:2]
    line = {"url": "http://%s:%d" % (host, port), "pid": os.getpid()}
    line.update(extra or {})
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
