"""``smtpauth import --load FILE --source NAME``: a saved Graph payload loaded offline (the sqlite-utils
``--load`` idea), through the same normalizers and store as a sync and recorded as a ``sync_run``.

Accepted: a usage report as CSV or as a beta JSON page; sign-ins, message trace and usage JSON as one page
(``{"value": [...]}``) or a JSON array of pages; the ``reportSettings`` object.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from connector import jsonio
from connector.clock import Clock
from connector.errors import DownloadError
from connector.imports.loading import (
    ImportRefused,
    ImportResult,
    ImportWriter,
    already_imported,
    load_file_rows,
    sha256_of,
)
from connector.sources import usage_reports as usage
from connector.sources._base import InvalidRecordError, Normalized
from connector.sources.message_trace import MESSAGE_TRACE, normalize_message_trace_page
from connector.sources.report_settings import REPORT_SETTINGS, normalize_report_settings
from connector.sources.signins import SIGNINS, normalize_signins_page
from connector.store.store import Store
from models import MessageTrace, ReportSettingsSnapshot, SignIn, UsageAppsKpi, UsageUserCounts, UsageUserDetail

__all__ = ["LOADABLE_SOURCES", "load_payload"]

LOADABLE_SOURCES = (
    usage.USER_DETAIL.name,
    usage.USER_COUNTS.name,
    usage.APPS_USER_COUNTS.name,
    SIGNINS.name,
    MESSAGE_TRACE.name,
    REPORT_SETTINGS.name,
)


def _pages(path: Path) -> Iterator[Mapping[str, Any]]:
    """The file's pages, streamed: a file of a few MB is decoded at once, a larger one page by page (or, for one
    large page, item by item), so memory does not grow with the file. Raises DownloadError part way through for
    a document that turns out not to be JSON, or an array holding something other than pages."""
    with path.open("rb") as fh:
        if path.stat().st_size <= jsonio.STREAM_ABOVE:
            try:
                body = jsonio.loads(fh.read())
            except (ValueError, UnicodeDecodeError) as exc:
                raise DownloadError(f"not a JSON document ({type(exc).__name__})") from None
            pages: Iterable[Any] = body if isinstance(body, list) else [body]
        else:
            pages = jsonio.stream_pages(fh)
        for page in pages:
            if not isinstance(page, Mapping):
                raise DownloadError("expected a JSON page or an array of pages")
            yield page


def _is_json(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] in (b"{", b"[")


def _json_rows(path: Path, per_page: Callable[[Mapping[str, Any]], Iterable[Normalized]]) -> Iterator[Normalized]:
    for page in _pages(path):
        yield from per_page(page)


def _plan(
    source: str, path: Path, *, tenant: str, view: str, clock: Clock
) -> tuple[Any, tuple[str, ...], Callable[[], Iterable[Normalized]]]:
    as_json = _is_json(path)

    def csv_rows(norm: Callable[[Any], Iterable[Normalized]]) -> Callable[[], Iterator[Normalized]]:
        def rows() -> Iterator[Normalized]:
            with path.open("rb") as fh:
                yield from norm(fh)

        return rows

    if source == usage.USER_DETAIL.name:
        if as_json:
            return (
                UsageUserDetail,
                usage.USER_DETAIL.key,
                lambda: _json_rows(path, lambda p: usage.normalize_user_detail_json(p, tenant=tenant, view=view)),
            )
        return (
            UsageUserDetail,
            usage.USER_DETAIL.key,
            csv_rows(lambda fh: usage.normalize_user_detail_csv(fh, tenant=tenant, view=view)),
        )
    if source == usage.USER_COUNTS.name:
        if as_json:
            return (
                UsageUserCounts,
                usage.USER_COUNTS.key,
                lambda: _json_rows(path, lambda p: usage.normalize_user_counts_json(p, tenant=tenant)),
            )
        return (
            UsageUserCounts,
            usage.USER_COUNTS.key,
            csv_rows(lambda fh: usage.normalize_user_counts_csv(fh, tenant=tenant)),
        )
    if source == usage.APPS_USER_COUNTS.name:
        if as_json:
            return (
                UsageAppsKpi,
                usage.APPS_USER_COUNTS.key,
                lambda: _json_rows(
                    path, lambda p: usage.normalize_apps_user_counts_json(p, tenant=tenant, period=view)
                ),
            )
        return (
            UsageAppsKpi,
            usage.APPS_USER_COUNTS.key,
            csv_rows(lambda fh: usage.normalize_apps_user_counts_csv(fh, tenant=tenant, period=view)),
        )
    if not as_json:
        raise ImportRefused(f"{path.name}: {source} payloads are JSON (a page or an array of pages)")
    if source == SIGNINS.name:
        return SignIn, SIGNINS.key, lambda: _json_rows(path, lambda p: normalize_signins_page(p, tenant=tenant))
    if source == MESSAGE_TRACE.name:
        return (
            MessageTrace,
            MESSAGE_TRACE.key,
            lambda: _json_rows(path, lambda p: normalize_message_trace_page(p, tenant=tenant)),
        )
    if source == REPORT_SETTINGS.name:
        observed = clock.now()
        return ReportSettingsSnapshot, REPORT_SETTINGS.key, lambda: _report_settings(path, tenant, observed)
    raise ImportRefused(f"unknown source {source!r}: one of {', '.join(LOADABLE_SOURCES)}")


def _report_settings(path: Path, tenant: str, observed: Any) -> Iterator[Normalized]:

    for page in _pages(path):
        try:
            yield normalize_report_settings(page, tenant=tenant, observed_at=observed)
        except InvalidRecordError as exc:
            yield exc


def load_payload(
    store: Store,
    clock: Clock,
    path: Path,
    *,
    tenant: str,
    source: str,
    view: str = "D7",
    writer: ImportWriter | None = None,
) -> ImportResult:
    """Load a saved Graph payload of ``source``; ``view`` is the usage period (``D7``) or date it was pulled for.

    With ``writer`` the file joins the writer's group commit (many files in one call). Raises ImportRefused
    (nothing loaded) for a payload that does not fit the source; OSError when unreadable.
    """
    digest = sha256_of(path)
    if (writer is not None and digest in writer.loaded) or already_imported(store, tenant, digest) is not None:
        return ImportResult(str(path), source, digest, already_imported=True)
    model, key, rows = _plan(source, path, tenant=tenant, view=view, clock=clock)
    return load_file_rows(
        store, clock, tenant=tenant, source=source, path=path, sha256=digest, model=model, key=key, rows=rows,
        writer=writer,
    )  # fmt: skip
