"""Request report searches waiting for an admin, and the upload that hands their files back.

``GET /api/v1/searches`` lists each search whose ``FileUrl`` wants an admin's browser session, with its title,
range and where the admin gets the file. ``POST /api/v1/uploads/smtp-cs-report`` takes the file back: a
``multipart/form-data`` body (field ``file``) streamed to a temporary file in the data directory, counted as it
arrives and cut off at ``service.max_upload_bytes`` (never held in memory), then loaded by the same importer as
``smtpauth import`` (:func:`connector.imports.import_file`): matched to its search, rows stored once (the same file
again changes nothing), anything that is not a report file refused with nothing stored.
"""

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request, status
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from connector.errors import SmtpAuthError
from connector.imports import ImportOptions, ImportRefused, import_file
from connector.imports.files import detect_kind
from connector.service.auth import Authorized
from connector.service.inputs import fail, known_tenant
from connector.sources._base import read_csv_header
from connector.store.history import JobRecord, waiting_jobs
from connector.sync.sources.smtp_cs_report import admin_fetch_hint

__all__ = ["UPLOAD_PREFIX", "router"]

router = APIRouter(prefix="/api/v1", tags=["searches"])

#: paths whose body the generic request-size limit leaves to the route (it enforces service.max_upload_bytes)
UPLOAD_PREFIX = "/api/v1/uploads/"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_JOB_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _search_json(job: JobRecord, cloud: str) -> dict[str, Any]:
    return {
        "tenant": job.tenant,
        "job_id": job.job_id,
        "title": job.title,
        "start": job.start.isoformat(),
        "end": job.end.isoformat(),
        "senders": len(job.senders),
        "submitted_at": job.submitted_at.isoformat(),
        "where": admin_fetch_hint(job, cloud),
    }


@router.get("/searches")
def searches(request: Request, _: Authorized, tenant: str | None = Query(None, max_length=63)) -> dict[str, Any]:
    """Request report searches whose file waits for an admin download, oldest range first."""
    settings = request.app.state.settings
    if tenant:
        known_tenant(settings, tenant)
    clouds = {t.name: t.cloud.value for t in settings.tenants}
    with request.app.state.store.read() as conn:
        jobs = waiting_jobs(conn, tenant)
    return {"searches": [_search_json(j, clouds.get(j.tenant, "global")) for j in jobs]}


class _TooLargeError(Exception):
    pass


class _FilePart:
    """Streams the ``file`` part of a multipart body to disk, counting bytes against the limit."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit
        self.size = 0
        self.filename: str | None = None
        self.path: Path | None = None
        self._fh: Any = None
        self._header_field = b""
        self._header_value = b""
        self._disposition = b""

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._grow("_header_field", d[s:e]),
            "on_header_value": lambda d, s, e: self._grow("_header_value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _grow(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def _begin(self) -> None:
        self._disposition = b""

    def _header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field = self._header_value = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._disposition)
        if options.get(b"name") == b"file" and self.path is None:
            raw = options.get(b"filename", b"upload.csv").decode("utf-8", errors="replace")
            name = _SAFE_NAME.sub("_", Path(raw.replace("\\", "/")).name).strip("._") or "upload.csv"
            self.filename = name[:120]
            self.path = self.folder / self.filename
            self._fh = self.path.open("wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._fh is None:
            return
        self.size += end - start
        if self.size > self.limit:
            raise _TooLargeError
        self._fh.write(data[start:end])

    def _end(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        self._end()


def _refused(message: str, code: int = status.HTTP_400_BAD_REQUEST) -> None:
    fail(code, message, "file")


@router.post("/uploads/smtp-cs-report")
async def upload_report_file(
    request: Request,
    _: Authorized,
    tenant: str = Query(..., max_length=63),
    search: str | None = Query(None, max_length=36),
) -> dict[str, Any]:
    """Hand back a Request report (SmtpCSReport) file an admin downloaded; 200 with what was loaded."""
    settings = request.app.state.settings
    known_tenant(settings, tenant)
    if search is not None and not _JOB_ID.match(search):
        fail(status.HTTP_400_BAD_REQUEST, "search must be a job id (a GUID)", "search")
    limit = settings.service.max_upload_bytes
    media, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        fail(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the file as multipart/form-data, in a field named file")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        _refused(f"the file is larger than service.max_upload_bytes = {limit:,} bytes", 413)
    folder = settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    work = Path(tempfile.mkdtemp(dir=folder))
    part = _FilePart(work, limit)
    try:
        parser = MultipartParser(boundary, part.callbacks())  # type: ignore[arg-type]
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except _TooLargeError:
            _refused(f"the file is larger than service.max_upload_bytes = {limit:,} bytes: nothing stored", 413)
        finally:
            part.close()
        if part.path is None or part.size == 0:
            _refused("no file in the upload (a multipart field named file)")
        assert part.path is not None  # noqa: S101 (checked above)
        return await run_in_threadpool(_load, request, tenant, search, part.path, part.size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load(request: Request, tenant: str, search: str | None, path: Path, size: int) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            kind = detect_kind(read_csv_header(fh))
    except SmtpAuthError:
        kind = None
    if kind != "smtp_cs_report":
        _refused(
            f"{path.name} is not a Request report (SmtpCSReport) CSV file: download it from the Exchange admin "
            "center (Mail flow > Message trace > Downloadable reports); nothing stored"
        )
    clock = request.app.state.runner.clock
    try:
        result = import_file(
            request.app.state.store, clock, path, tenant=tenant, options=ImportOptions(search=search, via="upload")
        )
    except ImportRefused as exc:
        _refused(str(exc))
    return {
        "file": path.name,
        "bytes": size,
        "already_imported": result.already_imported,
        "rows": result.rows_seen,
        "inserted": result.inserted,
        "updated": result.updated,
        "skipped": result.skipped,
        "summary": result.summary().replace(str(path.parent) + "/", ""),
    }
