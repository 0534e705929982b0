"""Input files of the import benchmark, made from a seeded generator (same seed, same bytes).

- Graph sign-in pages (``/auditLogs/signIns``, Authenticated SMTP, each item rendered by the simulator's
  ``signin_json``, ~1 KB per item),
  ``PAGE_ITEMS`` items a page: as one file per page (``{"@odata.context", "value", "@odata.nextLink"}``) and as
  one JSON array of those pages (what ``smtpauth check --capture`` and scripts that save every page write).
- ``SmtpCSReport`` files as Exchange writes them (UTF-16 with a BOM, the nine documented columns, US dates), as
  many files of ``CS_FILE_ROWS`` rows and as one large file.

Rows are spread over ``DAYS`` days and a few thousand senders, like a 90-day backfill of a mid-size tenant.
"""

import json
import random
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.simulator.population import Account, AccountKind, SignIn, Site
from connector.simulator.signins import signin_json
from connector.sources.smtp_cs_report import SMTP_CS_COLUMNS

PAGE_ITEMS = 1000
CS_FILE_ROWS = 10_000
DAYS = 30
SENDERS = 1500
_START = datetime(2026, 10, 1, tzinfo=UTC)
_CITIES = [("Seattle", "Washington", "US"), ("Paris", "Ile-de-France", "FR"), ("Berlin", "Berlin", "DE")]


def _senders(rng: random.Random) -> list[tuple[Account, str]]:
    out = []
    for i in range(SENDERS):
        name = f"device{i:05d}"
        user_id = str(uuid.UUID(int=rng.getrandbits(128)))
        ip = f"10.{i % 250}.{i // 250}.{rng.randrange(1, 250)}"
        account = Account(
            index=i,
            upn=f"{name}@contoso.com",
            display_name=f"Device {i}",
            user_id=user_id,
            kind=AccountKind.PRINTER,
            domain="contoso.com",
            enabled=True,
            auth_method="Basic",
            site=Site(ip, *_CITIES[0], 47.6, -122.3),
            tls=(("TLS1.2", 1.0),),
            rate=1.0,
            other_rate=0.0,
            weekdays_only=False,
            recipients=(),
            smtp_auth_disabled=None,
        )
        out.append((account, ip))
    return out


def signin_items(rows: int, seed: int = 16) -> Iterator[dict[str, Any]]:
    """Graph's JSON of each sign-in, as the simulator renders it (``connector.simulator.signins.signin_json``)."""
    rng = random.Random(seed)
    senders = _senders(rng)
    sites = [[Site(ip, *city, 47.6, -122.3) for city in _CITIES] for _, ip in senders]
    span = DAYS * 86400
    for n in range(rows):
        who = rng.randrange(SENDERS)
        failed = rng.random() < 0.1
        at = _START + timedelta(seconds=span * n / rows, milliseconds=rng.randrange(1000))
        signin_id = str(uuid.UUID(int=rng.getrandbits(128)))
        correlation = str(uuid.UUID(int=rng.getrandbits(128)))
        yield signin_json(
            SignIn(
                id=signin_id,
                created=at,
                account=senders[who][0],
                site=sites[who][n % 3],
                error_code=50126 if failed else 0,
                failure_reason="Invalid username or password." if failed else "",
                correlation_id=correlation,
            )
        )


def _page(items: list[dict[str, Any]], n: int, last: bool) -> dict[str, Any]:
    page: dict[str, Any] = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns",
        "value": items,
    }
    if not last:
        page["@odata.nextLink"] = f"https://graph.microsoft.com/v1.0/auditLogs/signIns?$skiptoken={n + 1:08d}"
    return page


def write_signin_pages(folder: Path, rows: int) -> list[Path]:
    """One file per page: ``page-00000.json`` ..."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    batch: list[dict[str, Any]] = []
    items = signin_items(rows)
    n = 0
    for item in items:
        batch.append(item)
        if len(batch) == PAGE_ITEMS:
            paths.append(_write_page(folder, batch, n, last=len(paths) * PAGE_ITEMS + PAGE_ITEMS >= rows))
            batch, n = [], n + 1
    if batch:
        paths.append(_write_page(folder, batch, n, last=True))
    return paths


def _write_page(folder: Path, batch: list[dict[str, Any]], n: int, *, last: bool) -> Path:
    path = folder / f"page-{n:05d}.json"
    path.write_text(json.dumps(_page(batch, n, last)), encoding="utf-8")
    return path


def write_signin_array(path: Path, rows: int) -> Path:
    """All pages in one JSON array, written page by page (the generator never holds the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[")
        batch: list[dict[str, Any]] = []
        n = 0
        for item in signin_items(rows):
            batch.append(item)
            if len(batch) == PAGE_ITEMS:
                fh.write(("," if n else "") + json.dumps(_page(batch, n, last=(n + 1) * PAGE_ITEMS >= rows)))
                batch, n = [], n + 1
        if batch:
            fh.write(("," if n else "") + json.dumps(_page(batch, n, last=True)))
        fh.write("]")
    return path


CS_HEADER = ",".join(SMTP_CS_COLUMNS)
_TLS = ("TLS1.2", "TLS1.2", "TLS1.2", "TLS1.0", "TLS1.1", "TLS1.3")
_AUTH = ("Basic", "Basic", "OAuth")


def cs_lines(rows: int, seed: int = 61) -> Iterator[str]:
    rng = random.Random(seed)
    span = DAYS * 86400
    for n in range(rows):
        sender = rng.randrange(SENDERS)
        at = _START + timedelta(seconds=span * n // rows)
        hour = at.hour % 12 or 12
        stamp = f"{at.month}/{at.day}/{at.year} {hour}:{at.minute:02d}:{at.second:02d} {'AM' if at.hour < 12 else 'PM'}"
        yield (
            f"{stamp},device{sender:05d}@contoso.com,contoso.com,{_AUTH[n % 3]},"
            f"10.{sender % 250}.{sender // 250}.{rng.randrange(1, 250)},{_TLS[n % 6]},"
            f"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,1,<{uuid.UUID(int=rng.getrandbits(128))}@contoso.com>\n"
        )


def write_cs_files(folder: Path, rows: int, per_file: int = CS_FILE_ROWS) -> list[Path]:
    """``rows`` rows in files of ``per_file`` rows (UTF-16 with a BOM, as Exchange writes them)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    lines = cs_lines(rows)
    done = 0
    while done < rows:
        count = min(per_file, rows - done)
        path = folder / f"SmtpCSReport_{len(paths):04d}.csv"
        with path.open("w", encoding="utf-16", newline="") as fh:
            fh.write(CS_HEADER + "\n")
            for _ in range(count):
                fh.write(next(lines))
        paths.append(path)
        done += count
    return paths


def main() -> None:
    """``import_data.py sets DIR ROWS`` (the four data sets) or ``import_data.py array FILE ROWS``: the benchmark
    writes its data in a process of its own, so that its own size (every measured child starts as a copy of it)
    stays small."""
    what, where, rows = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    if what == "array":
        write_signin_array(where, rows)
        return
    write_signin_pages(where / "pages", rows)
    write_signin_array(where / "signins.json", rows)
    write_cs_files(where / "cs_many", rows)
    write_cs_files(where / "cs_one", rows, per_file=rows)


if __name__ == "__main__":
    main()
