"""Raw HTTP/1.1 calls for the Consul suite (what python-consul does not cover: txn, bad input)."""

import json
import urllib.error
import urllib.request


class Http:
    """Raw HTTP/1.1 calls: (status, headers, body bytes). Never raises on 4xx/5xx."""

    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def call(self, method, path, body=None, headers=None, timeout=30.0):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        data = body if isinstance(body, (bytes, type(None))) else body.encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def json(self, method, path, body=None, **kw):
        status, headers, data = self.call(method, path, body, **kw)
        return status, headers, (json.loads(data) if data and data[:1] in (b"[", b"{", b'"', b"t", b"f", b"n") else data)
