#!/usr/bin/python3
#
# sigv4-oracle.py - signs requests with botocore's SigV4Auth, the
# independent signer that tests/unit/t-sigv4-oracle compares kl with.
#
# Run it with Debian's /usr/bin/python3, which sees python3-botocore.
# It first writes one line: {"ready": "botocore VERSION"}, or
# {"skip": "reason"} and exits 0 when botocore cannot be imported or fails
# a self-test (the AWS suite's get-vanilla signature).  Then,
# for each JSON line read on stdin, it writes one JSON line and flushes:
#
#   in:  {"method", "host", "path", "query", "headers": [[name, value]...],
#         "body_b64", "region", "service", "akid", "secret", "token",
#         "time": seconds since the epoch}
#   out: {"creq", "sts", "signature", "authorization", "x_amz_date"}
#        or {"error": "text"}
#
# The clock botocore reads is replaced by the request's own time
# (test-peers.md §5).  Headers are added one by one, so repeated names
# stay repeated, and Host is passed as a header, so botocore signs exactly
# the header set kl signs (plus the X-Amz-Date and X-Amz-Security-Token it
# adds itself, as kl does).

import base64
import datetime as dt
import json
import sys
import types

out = sys.stdout.buffer


def emit(obj):
    out.write(json.dumps(obj).encode("utf-8") + b"\n")
    out.flush()


try:
    import botocore
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except Exception as e:  # noqa: BLE001 - any import failure means skip
    emit({"skip": "python3-botocore not importable: %s" % e})
    sys.exit(0)

NOW = [0]


class Fixed(dt.datetime):
    @classmethod
    def _at(cls, tz=None):
        d = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=NOW[0])
        return cls(d.year, d.month, d.day, d.hour, d.minute, d.second,
                   tzinfo=tz)

    @classmethod
    def utcnow(cls):  # botocore 1.29
        return cls._at()

    @classmethod
    def now(cls, tz=None):  # newer releases
        return cls._at(tz)


botocore.auth.datetime = types.SimpleNamespace(
    datetime=Fixed, timezone=dt.timezone, timedelta=dt.timedelta)
if hasattr(botocore.auth, "get_current_datetime"):  # botocore >= 1.32
    botocore.auth.get_current_datetime = \
        lambda remove_tzinfo=True: Fixed._at(
            None if remove_tzinfo else dt.timezone.utc)


class Capture(botocore.auth.SigV4Auth):
    def canonical_request(self, request):
        self.creq = super().canonical_request(request)
        return self.creq

    def string_to_sign(self, request, canonical_request):
        self.sts = super().string_to_sign(request, canonical_request)
        return self.sts


def sign(r):
    NOW[0] = r["time"]
    url = "https://" + r["host"] + r["path"]
    if r.get("query"):
        url += "?" + r["query"]
    req = AWSRequest(method=r["method"], url=url,
                     data=base64.b64decode(r["body_b64"]))
    for name, value in r["headers"]:
        req.headers[name] = value
    creds = Credentials(r["akid"], r["secret"], r.get("token"))
    auth = Capture(creds, r["service"], r["region"])
    auth.add_auth(req)
    a = req.headers["Authorization"]
    want = Fixed._at().strftime("%Y%m%dT%H%M%SZ")
    if req.headers["X-Amz-Date"] != want:
        raise RuntimeError("botocore's clock is not fixed: X-Amz-Date %s, "
                           "want %s" % (req.headers["X-Amz-Date"], want))
    return {"creq": auth.creq, "sts": auth.sts,
            "signature": a.rsplit("Signature=", 1)[1],
            "authorization": a, "x_amz_date": req.headers["X-Amz-Date"]}


# Self-test: the suite's get-vanilla signature.
try:
    got = sign({"method": "GET", "host": "example.amazonaws.com",
                "path": "/", "headers": [["Host", "example.amazonaws.com"]],
                "body_b64": "", "region": "us-east-1", "service": "service",
                "akid": "AKIDEXAMPLE",
                "secret": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "time": 1440938160})["signature"]
except Exception as e:  # noqa: BLE001
    got = "%s: %s" % (type(e).__name__, e)
if got != ("5fa00fa31553b73ebf1942676e86291e"
           "8372ff2a2260956d9b8aae1d763fbf31"):
    emit({"skip": "botocore %s fails the get-vanilla self-test: %s"
          % (botocore.__version__, got)})
    sys.exit(0)
emit({"ready": "botocore " + botocore.__version__})
for line in sys.stdin.buffer:
    try:
        emit(sign(json.loads(line.decode("utf-8"))))
    except Exception as e:  # noqa: BLE001 - report, keep going
        emit({"error": "%s: %s" % (type(e).__name__, e)})
