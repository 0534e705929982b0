"""The API refuses bad input with a 4xx and one clear error: dates out of range, oversized or chunked bodies, and
requests without a token (checked before the body is read); a property-based fuzz of the query parameters and the
report request never gets a 5xx and never stores anything on a refusal."""

import socket
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.conftest import AUTH, Served

_DATES = ["2026-11-01", "0001-01-01", "9999-12-31", "1999-12-31", "2026-02-30", "", " ", "x", "2026-11-01T00:00"]


def test_dates_out_of_range_are_a_400_naming_the_parameter(served: Served) -> None:
    cases = [
        ("/api/v1/data/accounts", {"tenant": "contoso", "to": "0001-01-05"}, "to"),
        ("/api/v1/summary", {"tenant": "contoso", "from": "0001-01-01"}, "from"),
        ("/api/v1/summary", {"tenant": "contoso", "from": "2026-11-01", "to": "9999-12-31"}, "to"),
    ]
    for path, params, param in cases:
        r = served.get(path, **params)
        assert r.status_code == 400, (path, params, r.text)
        detail = r.json()["detail"]
        assert detail["param"] == param
        assert "is out of range: use a date from 2000-01-01 to 2999-12-31" in detail["error"]
    r = served.client.post(
        "/api/v1/reports", json={"tenant": "contoso", "from": "0001-01-01", "to": "0001-01-03"}, headers=AUTH
    )
    assert r.status_code == 400
    assert "out of range" in r.json()["detail"]["error"]


def _raw(served: Served, request: bytes) -> tuple[int, bytes]:
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(request)
        data = b""
        while part := s.recv(65536):  # the request says "Connection: close": read to the end
            data += part
    status = int(data.split(b" ", 2)[1])
    return status, data


def _chunks(body: bytes, size: int = 8192) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        part = body[i : i + size]
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


def test_an_oversized_chunked_body_is_a_413(served: Served) -> None:
    body = b'{"tenant": "' + b"a" * 70_000 + b'"}'
    head = (
        f"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {AUTH['Authorization'].split()[1]}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    status, data = _raw(served, head + b"".join(_chunks(body)))
    assert status == 413, data[:300]
    assert b"service.max_body_bytes" in data
    # declared by Content-Length: the same answer
    r = served.client.post("/api/v1/reports", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413
    # a small chunked body still works
    small = b'{"tenant": "contoso", "from": "2026-11-20", "to": "2026-11-21", "formats": ["csv"]}'
    status, data = _raw(served, head + b"".join(_chunks(small)))
    assert status == 202, data[:300]


def test_a_garbage_body_without_a_token_is_a_401_not_a_400(served: Served) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token"}):
        r = served.client.post(
            "/api/v1/reports", content=b"\x00{not json", headers={**headers, "Content-Type": "application/json"}
        )
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
    # with a token the same body is the client's mistake: 400
    r = served.client.post(
        "/api/v1/reports", content=b"\x00{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 400


def _stored(served: Served) -> tuple[int, int]:
    with served.env.store.read() as conn:
        jobs = conn.execute(sa.text("SELECT count(*) FROM report_job")).scalar_one()
        runs = conn.execute(sa.text("SELECT count(*) FROM sync_run")).scalar_one()
    return int(jobs), int(runs)


_TEXT = st.one_of(
    st.sampled_from(_DATES),
    st.text(max_size=50),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
_QUERY = st.dictionaries(
    st.sampled_from(["tenant", "from", "to", "domain", "sender", "format", "limit", "offset", "status"]),
    st.one_of(_TEXT, st.just("contoso")),
    max_size=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(
        ["/api/v1/data/accounts", "/api/v1/data/tls", "/api/v1/summary", "/api/v1/sync-runs", "/api/v1/reports"]
    ),
    params=_QUERY,
)
def test_fuzzed_query_parameters_never_answer_5xx(served: Served, path: str, params: dict[str, str]) -> None:
    before = _stored(served)
    r = served.get(path, **params)
    assert r.status_code < 500, (path, params, r.text[:500])
    if r.status_code >= 400:
        detail = r.json()["detail"]
        assert isinstance(detail, dict | str)
        assert "Traceback" not in r.text
    assert _stored(served) == before


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.fixed_dictionaries(
        {"tenant": st.one_of(st.just("contoso"), st.text(max_size=70))},
        optional={
            "from": _TEXT,
            "to": _TEXT,
            "formats": st.lists(st.sampled_from(["csv", "pdf", "", "xlsx"]), max_size=5),
            "domains": st.lists(st.text(max_size=30), max_size=3),
            "extra": st.integers(),
        },
    )
)
def test_fuzzed_report_requests_are_accepted_or_refused_cleanly(served: Served, body: dict[str, Any]) -> None:
    jobs, runs = _stored(served)
    r = served.client.post("/api/v1/reports", json=body, headers=AUTH)
    assert r.status_code in (202, 400, 404, 422), (body, r.text[:500])
    after_jobs, after_runs = _stored(served)
    assert after_runs == runs
    assert after_jobs == jobs + (1 if r.status_code == 202 else 0), (body, r.status_code)
