"""Raw-socket fuzzing of requests against a real gunicorn (2 workers): mutated chunked
encodings, header lines and methods, byte for byte as no client library would send them.

Every answer must be free of a 500 and of any traceback; an error answer (4xx, or 501
for an unknown transfer coding) is JSON ``{"error": ...}``; no key is ever echoed; and
the server still answers /healthz after each request. At the end its log holds neither
key nor traceback (tests/security/serving_state.py).

Bounded and deterministic in ``make test`` (FUZZ_EXAMPLES, default 15, examples per
kind of mutation and target, derandomized); ``make fuzz`` runs it longer with a random
seed, as for tests/security/test_fuzz_api.py.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.fuzzing import DERANDOMIZE, EXAMPLES, FUZZ_EXAMPLES
from tests.security.serving_state import ADMIN_KEY, API_KEY
from tests.support.raw_http import exchange

pytestmark = pytest.mark.gunicorn

KEYS = (ADMIN_KEY, API_KEY)
TOKEN = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MULTIPART = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n\r\n'
             b"fuzzed\r\n--b--\r\n")
# (method, path, header lines, body): requests that change nothing a later one depends on.
TARGETS = {
    "healthz": ("GET", "/healthz", [f"X-Admin-Key: {ADMIN_KEY}"], b""),
    "admin list": ("GET", "/admin/tenants", [f"X-Admin-Key: {ADMIN_KEY}"], b""),
    "admin put": ("PUT", "/admin/tenants/acme", [f"X-Admin-Key: {ADMIN_KEY}",
                                                 "Content-Type: application/json"],
                  json.dumps({"extra": {"plan": "gold"}}).encode()),
    "set_ready": ("POST", "/tenant/acme/set_ready", [f"X-API-Key: {API_KEY}",
                                                     "Content-Type: application/json"],
                  b'{"ready": null}'),
    "upload": ("POST", "/t/acme/uploads", ["Content-Type: multipart/form-data; boundary=b"],
               MULTIPART),
}
ERROR_STATUSES = range(400, 500)
ALLOWED_5XX = {501: "unsupported_transfer_coding"}


# -- mutations ------------------------------------------------------------------------------------
def chunk_sizes(data: bytes):
    exact = f"{len(data):x}".encode()
    return st.one_of(
        st.just(exact), st.just(exact.upper()),
        st.text("0123456789abcdefABCDEF", min_size=1, max_size=24).map(str.encode),  # wrong/huge
        st.text("-+ xyzXZ_\t\x00", min_size=1, max_size=6).map(str.encode),  # not hex at all
        st.just(b""), st.just(b"-1"), st.just(b"0x10"), st.just(b"f" * 20),
        st.tuples(st.just(exact), st.sampled_from(
            [b";a=b", b"; a = b", b';a="q"', b';a="open', b";", b";\r", b";a=b;c", b"; " * 50]))
        .map(b"".join))


@st.composite
def chunked_bodies(draw, body: bytes) -> bytes:
    pieces = draw(st.lists(st.integers(0, len(body)), max_size=3))
    cuts = sorted(set(pieces)) + [len(body)]
    out, start = b"", 0
    for cut in cuts:
        data = body[start:cut]
        start = cut
        if not data:
            continue
        out += draw(chunk_sizes(data)) + b"\r\n" + data
        out += draw(st.sampled_from([b"\r\n", b"\r\n", b"", b"\n", b"XX", b"\r"]))
    out += draw(st.sampled_from([b"0\r\n\r\n", b"0\r\n\r\n", b"0\r\nX-Trailer: 1\r\n\r\n",
                                 b"0\r\nbad trailer\r\n\r\n", b"0\r\n", b"", b"0;x=y\r\n\r\n"]))
    return out


def header_line_mutations():
    key = st.sampled_from([f"X-Admin-Key {ADMIN_KEY}", f"X-API-Key {API_KEY}",
                           f"x-admin-key\t{ADMIN_KEY}", f"{ADMIN_KEY}"])
    return st.one_of(
        key,  # no colon, holding a key
        st.sampled_from([f" {ADMIN_KEY}", f"\t{API_KEY}", " folded"]),  # obs-fold
        st.sampled_from(["Host: other", "Content-Length: 5", "Content-Length: 0",
                         "Transfer-Encoding: chunked", "Transfer-Encoding: gzip",
                         "Transfer-Encoding: chunked, chunked", "Transfer-Encoding: x-rot13",
                         f"X-Admin-Key: {ADMIN_KEY}", "Content-Length: -1",
                         "Content-Length: 1e3", "Expect: 100-continue", "Expect: nope"]),
        st.sampled_from([f"X-Admin-Key: {ADMIN_KEY}\x00", f"X-A\x00dmin-Key: {ADMIN_KEY}",
                         f"X-Admin-Key : {ADMIN_KEY}", f": {ADMIN_KEY}", "X-\xff: \xfe",
                         f"X-Admin-Key: {ADMIN_KEY}\r", "X Y: z"]),
        st.integers(4000, 12000).map(lambda n: "X-Pad: " + "p" * n),  # overlong
        st.text(TOKEN + " :\t\x7f\x01", min_size=0, max_size=40))


def methods():
    return st.one_of(
        st.text(TOKEN, min_size=1, max_size=20),  # random tokens
        st.sampled_from(["get", "put", "post", "Get", "dElEtE"]),  # lower case
        st.integers(100, 9000).map(lambda n: "A" * n),  # overlong
        st.text(TOKEN + "@()<>,;\\\"/[]?={} \x00\x7f", min_size=1, max_size=12))


def assemble(method: str, path: str, headers: list[str], body: bytes) -> bytes:
    head = "\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers])
    return head.encode("latin-1", "replace") + b"\r\n\r\n" + body


@st.composite
def chunked_requests(draw, target):
    method, path, headers, body = target
    encoded = draw(chunked_bodies(body or b"{}"))
    return assemble(method, path, [*headers, "Transfer-Encoding: chunked"], encoded)


@st.composite
def header_requests(draw, target):
    method, path, headers, body = target
    lines = [*headers, f"Content-Length: {len(body)}"]
    for line in draw(st.lists(header_line_mutations(), min_size=1, max_size=3)):
        lines.insert(draw(st.integers(0, len(lines))), line)
    return assemble(method, path, lines, body)


@st.composite
def method_requests(draw, target):
    _, path, headers, body = target
    return assemble(draw(methods()), path, [*headers, f"Content-Length: {len(body)}"], body)


MUTATIONS = {"chunked": chunked_requests, "header lines": header_requests,
             "methods": method_requests}


# -- the run --------------------------------------------------------------------------------------
def check(server, data: bytes) -> None:
    answer = exchange(server.port, data, end_input=True)
    assert answer.status, f"no answer to {data[:200]!r}"
    assert "Traceback" not in answer.text
    for key in KEYS:
        assert key not in answer.text, f"key echoed for {data[:200]!r}"
    if answer.status in ERROR_STATUSES or answer.status in ALLOWED_5XX:
        assert answer.headers.get("content-type") == "application/json", answer.text[:300]
        error = answer.json().get("error")
        assert isinstance(error, str), answer.text[:300]
        if answer.status in ALLOWED_5XX:
            assert error == ALLOWED_5XX[answer.status]
    else:
        assert answer.status < 400, f"{answer.status} for {data[:200]!r}: {answer.text[:300]}"
    assert server.get("/healthz").status_code == 200


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mutation", MUTATIONS)
def test_mutated_requests_get_a_json_answer_without_500_or_key(server, mutation, target):
    counter_key = f"WIRE {mutation} {target} [raw socket]"

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=DERANDOMIZE, database=None,
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=MUTATIONS[mutation](TARGETS[target]))
    def fuzz(data):
        EXAMPLES[counter_key] += 1
        check(server, data)

    fuzz()
    assert EXAMPLES[counter_key] > 0
