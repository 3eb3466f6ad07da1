#!/usr/bin/python3
"""A strict fake AWS STS for kl's tests (no real STS peer exists).

Usage:
  /usr/bin/python3 tests/fakes/sts.py --port 0 --keys FILE [--roles FILE]
      [--log FILE] [--issued FILE] [--region R] [--skew S] [--clock-offset S]
      [--lifetime S] [--max-duration S] [--role-max-session S]
      [--fail-count N --fail-code CODE [--fail-actions A,B]]
      [--malformed N] [--drop N] [--latency-ms M] [--token-length N]

Binds 127.0.0.1 only (a free port with --port 0), prints one line
{"url":"http://127.0.0.1:PORT","pid":PID} on stdout, then serves HTTP/1.1
with keep-alive until SIGTERM (exit 0).

Actions, by POST / (application/x-www-form-urlencoded body) or GET /?query,
Version=2011-06-15, answered with STS's XML (namespace
https://sts.amazonaws.com/doc/2011-06-15/) and STS's <ErrorResponse>:
  AssumeRole, GetCallerIdentity   SigV4 verified by botocore (sigv4check.py)
                                  over the client's SignedHeaders, service
                                  sts, --region (us-east-1)
  AssumeRoleWithWebIdentity       unsigned, as in AWS

Errors: MissingAuthenticationToken 403, IncompleteSignature 400,
InvalidClientTokenId 403 (unknown key, session token missing or wrong, or a
token with a long-term key), SignatureDoesNotMatch 403 (signature, scope,
"Signature expired" skew), ExpiredToken 400 (temporary key past its
Expiration), AccessDenied 403 (trust), ValidationError 400 (parameters as
STS checks them), InvalidAction 400, MalformedPolicyDocument 400,
InvalidIdentityToken 400, and injected faults.

Keys file (--keys): {"AKIDEXAMPLE": {"secret": "...", "account":
"123456789012", "arn": "arn:aws:iam::123456789012:user/test"}}; see
sigv4check.py for optional members.  Keys this fake issues are accepted too.

Roles file (--roles), the trust: {"ROLE_ARN": null | "EXTERNAL_ID" | {...}}
with object members (all optional):
  "external_id": "..."        required ExternalId (AccessDenied if missing
                              or wrong); null or absent: none required
  "principals": [ARN, ...]    callers allowed (default: any known key)
  "max_session_duration": S   the role's MaxSessionDuration (default
                              --role-max-session, 3600, as IAM's default);
                              a larger DurationSeconds is a ValidationError
  "lifetime": S               issue credentials that expire S seconds from
                              now, whatever DurationSeconds says
  "max_duration": S           cap the lifetime at S seconds
  "web_identity_tokens": [..] tokens AssumeRoleWithWebIdentity accepts
                              (InvalidIdentityToken otherwise); without the
                              member the role refuses web identities
A role not in the file is AccessDenied.  Without --roles every
well-formed role ARN may be assumed, with any or no external id and any
web identity token.

Issued credentials: AccessKeyId "ASIA" + 16 random [A-Z0-9], a random
40-character secret, a random session token (--token-length, 800
characters of base64 with "+", "/" and "=") and Expiration = now +
DurationSeconds (default 3600), unless shortened:
  --lifetime S (or per-role "lifetime") sets the lifetime to S seconds;
  --max-duration S (or per-role "max_duration") caps it at S seconds.
kl refreshes credentials 5 minutes before Expiration, so:
  * --lifetime 302: kl sees the key as fresh for about 2 s, then must
    refresh ahead of expiry; the log shows AssumeRole every ~2 s and kl
    never meets ExpiredToken / ExpiredTokenException;
  * --lifetime 3 (or --max-duration 3): the key is already inside kl's
    refresh window and truly expires 3 s later, so a request signed with
    it after that gets ExpiredToken here (and ExpiredTokenException from
    kinesis-front.py --sts-keys): kl's refresh-on-expired path.
Both can be changed mid-run through the control endpoint.
With --issued FILE each issued key is appended to FILE as one JSON line
(format in sigv4check.py) so kinesis-front.py --sts-keys FILE accepts it;
keys already in FILE at start-up are accepted here too.

Faults (start-up options or the control endpoint), applied after a request
passes the signature check, in this order:
  drop N           close the connection without a reply, N times
  fail N CODE      answer the next N calls with CODE: AccessDenied 403,
                   Throttling 400, ExpiredToken 400, InvalidClientTokenId
                   403, SignatureDoesNotMatch 403, InternalFailure 500,
                   InternalError 500, ServiceUnavailable 503, any other
                   code 400; only for --fail-actions when given
  malformed N      200 with truncated XML, N times
  latency-ms M     sleep M ms before every reply

Control endpoints (no signature; loopback only):
  GET  /_sts/config          current settings as JSON
  POST /_sts/config          JSON object of settings to change: fail_count,
                             fail_code, fail_actions (list or null),
                             malformed_count, drop_count, latency_ms,
                             lifetime, max_duration, clock_offset, skew
  GET  /_sts/stats           counters: requests, by_action, by_status,
                             by_code, issued, faults

Log (--log FILE): one JSON line per request: t, n, method, path, action,
access_key_id, status, code, fault, signed_headers, token_sent,
content_type, role_arn, role_session_name, external_id, duration_seconds,
issued_access_key_id, expiration, ms.  Never a secret, session token or
signature.
"""

import argparse
import base64
import json
import os
import re
import secrets
import string
import sys
import threading
import time
import uuid
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4check as sv  # noqa: E402

NS = "https://sts.amazonaws.com/doc/2011-06-15/"
VERSION = "2011-06-15"

STATUS = {
    "AccessDenied": 403, "InvalidClientTokenId": 403,
    "SignatureDoesNotMatch": 403, "MissingAuthenticationToken": 403,
    "RegionDisabledException": 403, "ExpiredToken": 400,
    "Throttling": 400, "ValidationError": 400, "IncompleteSignature": 400,
    "InternalFailure": 500, "InternalError": 500, "ServiceUnavailable": 503,
}
FAULT_TEXT = {
    "Throttling": "Rate exceeded",
    "ExpiredToken": "The security token included in the request is expired",
    "InvalidClientTokenId": "The security token included in the request is invalid.",
    "SignatureDoesNotMatch": sv.MISMATCH_TEXT,
    "InternalFailure": "An internal error occurred.",
    "InternalError": "An internal error occurred.",
    "ServiceUnavailable": "Service is unavailable.",
}
AUTH_CODE = {
    sv.MISSING: ("MissingAuthenticationToken", 403),
    sv.INCOMPLETE: ("IncompleteSignature", 400),
    sv.UNKNOWN_KEY: ("InvalidClientTokenId", 403),
    sv.BAD_TOKEN: ("InvalidClientTokenId", 403),
    sv.SKEW: ("SignatureDoesNotMatch", 403),
    sv.SIGNATURE: ("SignatureDoesNotMatch", 403),
    sv.EXPIRED: ("ExpiredToken", 400),
}

ROLE_ARN_RE = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):iam::(\d{12}):role"
    r"(/|/[\x21-\x7e]+/)([\w+=,.@-]{1,64})$")
SESSION_RE = re.compile(r"^[\w+=,.@-]*$")
EXTERNAL_RE = re.compile(r"^[\w+=,.@:/-]*$")
SERIAL_RE = re.compile(r"^[\w+=/:,.@-]*$")
POLICY_RE = re.compile(r"^[\u0009\u000A\u000D\u0020-\u00FF]*$")


class StsError(Exception):
    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS.get(code, 400)


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.keys = sv.KeyStore(args.keys, args.issued)
        self.verifier = sv.Verifier(self.keys, "sts", args.region, args.skew,
                                    args.clock_offset)
        self.region = args.region
        self.roles = None
        if args.roles:
            with open(args.roles, encoding="utf-8") as f:
                self.roles = json.load(f)
        self.issued_path = args.issued
        self.log = sv.JsonLog(args.log)
        self.token_length = args.token_length
        self.role_max_session = args.role_max_session
        self.cfg = {
            "fail_count": args.fail_count, "fail_code": args.fail_code,
            "fail_actions": (args.fail_actions.split(",")
                             if args.fail_actions else None),
            "malformed_count": args.malformed, "drop_count": args.drop,
            "latency_ms": args.latency_ms, "lifetime": args.lifetime,
            "max_duration": args.max_duration,
            "clock_offset": args.clock_offset, "skew": args.skew,
        }
        self.n = 0
        self.stats = {"requests": 0, "by_action": {}, "by_status": {},
                      "by_code": {}, "issued": 0, "faults": {}}

    def set_config(self, new):
        with self.lock:
            for k, v in new.items():
                if k not in self.cfg:
                    raise ValueError("unknown setting %r" % k)
                self.cfg[k] = v
            self.verifier.clock_offset = float(self.cfg["clock_offset"] or 0)
            self.verifier.skew = int(self.cfg["skew"])
            Handler.clock_offset = self.verifier.clock_offset
            return dict(self.cfg)

    def take_fault(self, action):
        """The fault for this call, if one is pending, consumed."""
        with self.lock:
            c = self.cfg
            if c["drop_count"] > 0:
                c["drop_count"] -= 1
                return "drop"
            if c["fail_count"] > 0 and c["fail_code"] and (
                    not c["fail_actions"] or action in c["fail_actions"]):
                c["fail_count"] -= 1
                return c["fail_code"]
            if c["malformed_count"] > 0:
                c["malformed_count"] -= 1
                return "malformed"
            return None

    def count(self, key, name):
        d = self.stats[key]
        d[name] = d.get(name, 0) + 1


def xml_error(code, message, rid, status):
    kind = "Receiver" if status >= 500 else "Sender"
    return ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n'
            '    <Code>%s</Code>\n    <Message>%s</Message>\n  </Error>\n'
            '  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
            % (NS, kind, escape(code), escape(message), rid))


def xml_response(action, inner, rid):
    return ('<%sResponse xmlns="%s">\n  <%sResult>\n%s  </%sResult>\n'
            '  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n'
            '  </ResponseMetadata>\n</%sResponse>\n'
            % (action, NS, action, inner, action, rid, action))


def new_access_key():
    alphabet = string.ascii_uppercase + string.digits
    return "ASIA" + "".join(secrets.choice(alphabet) for _ in range(16))


def new_secret():
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))


def new_token(length):
    raw = base64.b64encode(secrets.token_bytes(length)).decode()
    tok = "IQoJb3JpZ2luX2VjE" + raw
    tok = tok[:max(length - 2, 20)]
    if "/" not in tok:
        tok = tok[:10] + "/" + tok[11:]
    if "+" not in tok:
        tok = tok[:12] + "+" + tok[13:]
    return tok + "=="


def validation(errors):
    if errors:
        n = len(errors)
        raise StsError("ValidationError", "%d validation error%s detected: %s"
                       % (n, "" if n == 1 else "s", "; ".join(errors)))


def check_str(errors, params, name, field, lo, hi, regex, required=False):
    v = params.get(name)
    if v is None:
        if required:
            errors.append("Value null at '%s' failed to satisfy constraint: "
                          "Member must not be null" % field)
        return None
    shown = v if len(v) <= 256 else v[:256] + "..."
    if len(v) < lo:
        errors.append("Value '%s' at '%s' failed to satisfy constraint: "
                      "Member must have length greater than or equal to %d"
                      % (shown, field, lo))
    elif len(v) > hi:
        errors.append("Value '%s' at '%s' failed to satisfy constraint: "
                      "Member must have length less than or equal to %d"
                      % (shown, field, hi))
    elif regex is not None and not regex.match(v):
        errors.append("Value '%s' at '%s' failed to satisfy constraint: "
                      "Member must satisfy regular expression pattern: %s"
                      % (shown, field, regex.pattern.strip("^$")))
    return v


def check_duration(errors, params):
    v = params.get("DurationSeconds")
    if v is None:
        return None
    try:
        d = int(v)
        if str(d) != v.strip():
            raise ValueError
    except ValueError:
        errors.append("Value '%s' at 'durationSeconds' failed to satisfy "
                      "constraint: Member must be an integer" % v)
        return None
    if d < 900:
        errors.append("Value '%d' at 'durationSeconds' failed to satisfy "
                      "constraint: Member must have value greater than or "
                      "equal to 900" % d)
    elif d > 43200:
        errors.append("Value '%d' at 'durationSeconds' failed to satisfy "
                      "constraint: Member must have value less than or "
                      "equal to 43200" % d)
    return d


def check_role_arn(errors, params):
    arn = check_str(errors, params, "RoleArn", "roleArn", 20, 2048, None,
                    required=True)
    if arn is None or errors:
        return None, None
    m = ROLE_ARN_RE.match(arn)
    if not m:
        raise StsError("ValidationError", "%s is invalid: a role ARN is "
                       "arn:aws:iam::<12-digit account>:role/[path/]name"
                       % arn)
    return arn, m


class Handler(sv.FakeHandler):
    server_version = "kl-fake-sts"
    state = None

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        st = self.state
        t0 = time.time()
        try:
            body = self.read_body()
        except sv.BodyError as e:
            self.close_connection = True
            self.send_reply(400, str(e) + "\n", "text/plain")
            return
        split = urlsplit(self.path)
        if split.path.startswith("/_sts/"):
            self.control(split.path, body)
            return
        rid = str(uuid.uuid4())
        with st.lock:
            st.n += 1
            n = st.n
        entry = {"t": sv.utc_stamp(), "n": n, "method": self.command,
                 "path": self.path.split("?")[0],
                 "content_type": self.headers.get("Content-Type"),
                 "token_sent": "X-Amz-Security-Token" in self.headers}
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        if self.command == "POST" and ctype.strip().lower() == \
                "application/x-www-form-urlencoded":
            try:
                params.update(parse_qsl(body.decode("utf-8"),
                                        keep_blank_values=True))
            except UnicodeDecodeError:
                pass
        action = params.get("Action")
        entry["action"] = action
        for p, k in (("RoleArn", "role_arn"),
                     ("RoleSessionName", "role_session_name"),
                     ("ExternalId", "external_id"),
                     ("DurationSeconds", "duration_seconds")):
            if p in params:
                entry[k] = params[p]
        status, code, fault, out = 200, None, None, None
        try:
            ident = None
            if action != "AssumeRoleWithWebIdentity":
                try:
                    ident = st.verifier.verify(self.command, self.path,
                                               self.header_pairs(), body)
                except sv.AuthError as e:
                    entry["access_key_id"] = e.akid
                    entry["signed_headers"] = sv.signed_headers_of(
                        self.headers.get("Authorization"))
                    c, s = AUTH_CODE[e.kind]
                    msg = e.message
                    if e.kind == sv.MISSING:
                        msg = "Request is missing Authentication Token"
                    raise StsError(c, msg, s)
                entry["access_key_id"] = ident.akid
                entry["signed_headers"] = ident.signed_headers
            fault = st.take_fault(action)
            if fault == "drop":
                entry.update(status=None, fault="drop")
                self.finish_log(entry, t0, "drop")
                self.drop_connection()
                return
            if fault and fault != "malformed":
                msg = FAULT_TEXT.get(fault)
                if fault == "AccessDenied":
                    msg = "User: %s is not authorized to perform: sts:%s" % (
                        ident.arn if ident else "anonymous", action)
                raise StsError(fault, msg or "Injected fault %s" % fault)
            if params.get("Version") != VERSION or action not in (
                    "AssumeRole", "GetCallerIdentity",
                    "AssumeRoleWithWebIdentity"):
                raise StsError("InvalidAction", "Could not find operation %s "
                               "for version %s" % (
                                   action or "",
                                   params.get("Version") or
                                   "NO_VERSION_SPECIFIED"))
            if fault == "malformed":
                out = ('<%sResponse xmlns="%s">\n  <%sResult>\n    '
                       '<Credentials>\n      <AccessKeyId>ASIA'
                       % (action, NS, action))
            elif action == "GetCallerIdentity":
                out = xml_response(action, (
                    "    <Arn>%s</Arn>\n    <UserId>%s</UserId>\n"
                    "    <Account>%s</Account>\n")
                    % (escape(ident.arn), escape(ident.user_id),
                       ident.account), rid)
            else:
                out = self.assume(action, params, ident, rid, entry)
        except StsError as e:
            status, code = e.status, e.code
            out = xml_error(e.code, e.message, rid, e.status)
        entry.update(status=status, code=code, fault=fault)
        lat = st.cfg["latency_ms"]
        if lat:
            time.sleep(lat / 1000.0)
        self.send_reply(status, out, "text/xml",
                        [("x-amzn-RequestId", rid)])
        self.finish_log(entry, t0, fault)

    def finish_log(self, entry, t0, fault):
        st = self.state
        entry["ms"] = round((time.time() - t0) * 1000, 1)
        with st.lock:
            st.stats["requests"] += 1
            st.count("by_action", str(entry.get("action")))
            st.count("by_status", str(entry.get("status")))
            if entry.get("code"):
                st.count("by_code", entry["code"])
            if fault:
                st.count("faults", fault)
            if entry.get("issued_access_key_id"):
                st.stats["issued"] += 1
        st.log.write(entry)

    def assume(self, action, params, ident, rid, entry):
        st = self.state
        errors = []
        arn, m = check_role_arn(errors, params)
        session = check_str(errors, params, "RoleSessionName",
                            "roleSessionName", 2, 64, SESSION_RE,
                            required=True)
        duration = check_duration(errors, params)
        policy = check_str(errors, params, "Policy", "policy", 1, 2048,
                           POLICY_RE)
        if action == "AssumeRole":
            ext = check_str(errors, params, "ExternalId", "externalId", 2,
                            1224, EXTERNAL_RE)
            check_str(errors, params, "SerialNumber", "serialNumber", 9, 256,
                      SERIAL_RE)
            check_str(errors, params, "TokenCode", "tokenCode", 6, 6,
                      re.compile(r"^[\d]*$"))
            check_str(errors, params, "SourceIdentity", "sourceIdentity", 2,
                      64, SESSION_RE)
        else:
            token = check_str(errors, params, "WebIdentityToken",
                              "webIdentityToken", 4, 20000, None,
                              required=True)
            check_str(errors, params, "ProviderId", "providerId", 4, 2048,
                      None)
        validation(errors)
        if arn is None:
            validation(["Value null at 'roleArn' failed to satisfy "
                        "constraint: Member must not be null"])
        if policy is not None:
            try:
                json.loads(policy)
            except ValueError:
                raise StsError("MalformedPolicyDocument", "The policy is not "
                               "in the valid JSON format.")
        partition, account, _path, role_name = m.groups()

        role = {}
        if st.roles is not None:
            if arn not in st.roles:
                raise self.denied(action, ident, arn)
            role = st.roles[arn]
            if role is None:
                role = {}
            elif isinstance(role, str):
                role = {"external_id": role}
        if action == "AssumeRole":
            want = role.get("external_id")
            if want is not None and ext != want:
                raise self.denied(action, ident, arn)
            allowed = role.get("principals")
            if allowed is not None and ident.arn not in allowed:
                raise self.denied(action, ident, arn)
        elif st.roles is not None:
            toks = role.get("web_identity_tokens")
            if toks is None:
                raise StsError("AccessDenied", "Not authorized to perform "
                               "sts:AssumeRoleWithWebIdentity")
            if token not in toks:
                raise StsError("InvalidIdentityToken", "The web identity "
                               "token that was passed could not be "
                               "validated by AWS. Get a new identity token "
                               "from the identity provider and then retry "
                               "the request.")
        max_session = int(role.get("max_session_duration",
                                   st.role_max_session))
        if duration is not None and duration > max_session:
            raise StsError("ValidationError", "The requested DurationSeconds "
                           "exceeds the MaxSessionDuration set for this "
                           "role.")
        if (ident is not None and ident.temporary and ident.role_arn
                and duration is not None and duration > 3600):
            raise StsError("ValidationError", "The requested DurationSeconds "
                           "exceeds the 1 hour session limit for roles "
                           "assumed by role chaining.")

        with st.lock:
            cfg = dict(st.cfg)
        life = duration or 3600
        lifetime = role.get("lifetime", cfg["lifetime"])
        cap = role.get("max_duration", cfg["max_duration"])
        if lifetime:
            life = int(lifetime)
        elif cap:
            life = min(life, int(cap))
        now = int(st.verifier.now())
        exp = now + life
        akid, secret = new_access_key(), new_secret()
        token = new_token(st.token_length)
        role_id = sv.derived_id("AROA", arn) + ":" + session
        ar_arn = "arn:%s:sts::%s:assumed-role/%s/%s" % (
            partition, account, role_name, session)
        rec = {"secret": secret, "session_token": token,
               "expiration_epoch": float(exp), "account": account,
               "arn": ar_arn, "user_id": role_id, "role_arn": arn}
        st.keys.add_issued(akid, rec)
        if st.issued_path:
            line = json.dumps({
                "access_key_id": akid, "secret_access_key": secret,
                "session_token": token, "expiration": sv.iso8601(exp),
                "expiration_epoch": exp, "account": account, "arn": ar_arn,
                "user_id": role_id, "role_arn": arn, "issued_epoch": now},
                separators=(",", ":")) + "\n"
            fd = os.open(st.issued_path,
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        entry["issued_access_key_id"] = akid
        entry["expiration"] = sv.iso8601(exp)
        creds = ("    <Credentials>\n      <AccessKeyId>%s</AccessKeyId>\n"
                 "      <SecretAccessKey>%s</SecretAccessKey>\n"
                 "      <SessionToken>%s</SessionToken>\n"
                 "      <Expiration>%s</Expiration>\n    </Credentials>\n"
                 % (akid, escape(secret), escape(token), sv.iso8601(exp)))
        user = ("    <AssumedRoleUser>\n      <Arn>%s</Arn>\n"
                "      <AssumedRoleId>%s</AssumedRoleId>\n"
                "    </AssumedRoleUser>\n"
                % (escape(ar_arn), escape(role_id)))
        if action == "AssumeRole":
            inner = user + creds
            if policy is not None:
                inner += "    <PackedPolicySize>%d</PackedPolicySize>\n" % (
                    max(1, len(policy) * 100 // 2048))
            return xml_response(action, inner, rid)
        sub, aud, iss = web_identity_claims(params["WebIdentityToken"])
        inner = ("    <SubjectFromWebIdentityToken>%s"
                 "</SubjectFromWebIdentityToken>\n"
                 "    <Audience>%s</Audience>\n" % (escape(sub), escape(aud))
                 + user + creds +
                 "    <Provider>%s</Provider>\n"
                 % escape(params.get("ProviderId") or iss))
        return xml_response(action, inner, rid)

    def denied(self, action, ident, arn):
        who = ident.arn if ident else "anonymous"
        return StsError("AccessDenied", "User: %s is not authorized to "
                        "perform: sts:%s on resource: %s" % (who, action, arn))

    def control(self, path, body):
        st = self.state
        try:
            if path == "/_sts/config" and self.command == "POST":
                new = json.loads(body or b"{}")
                if not isinstance(new, dict):
                    raise ValueError("expected a JSON object")
                out = st.set_config(new)
            elif path == "/_sts/config":
                with st.lock:
                    out = dict(st.cfg)
            elif path == "/_sts/stats":
                with st.lock:
                    out = json.loads(json.dumps(st.stats))
            else:
                self.send_reply(404, '{"error":"no such control path"}\n',
                                "application/json")
                return
        except ValueError as e:
            self.send_reply(400, json.dumps({"error": str(e)}) + "\n",
                            "application/json")
            return
        self.send_reply(200, json.dumps(out, sort_keys=True) + "\n",
                        "application/json")


def web_identity_claims(token):
    """(sub, aud, iss) from a JWT's payload, or placeholders."""
    parts = token.split(".")
    if len(parts) == 3:
        try:
            pad = "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + pad))
            aud = claims.get("aud", "")
            if isinstance(aud, list):
                aud = aud[0] if aud else ""
            return (str(claims.get("sub", "")), str(aud),
                    str(claims.get("iss", "")))
        except (ValueError, AttributeError):
            pass
    return "subject", "client.example.com", "www.example.com"


def main():
    ap = argparse.ArgumentParser(description="Strict fake STS for kl tests.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--roles")
    ap.add_argument("--log")
    ap.add_argument("--issued")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--skew", type=int, default=300)
    ap.add_argument("--clock-offset", type=float, default=0.0)
    ap.add_argument("--lifetime", type=int)
    ap.add_argument("--max-duration", type=int)
    ap.add_argument("--role-max-session", type=int, default=3600)
    ap.add_argument("--fail-count", "--fail-first", type=int, default=0)
    ap.add_argument("--fail-code")
    ap.add_argument("--fail-actions")
    ap.add_argument("--malformed", type=int, default=0)
    ap.add_argument("--drop", type=int, default=0)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--token-length", type=int, default=800)
    args = ap.parse_args()
    if args.fail_count and not args.fail_code:
        ap.error("--fail-count needs --fail-code")
    Handler.state = State(args)
    Handler.clock_offset = args.clock_offset
    sv.run_server(Handler, args.port)


if __name__ == "__main__":
    main()
