"""``smtpauth import FILE``: recognize an admin's file by its header and load it.

Kinds, by the columns they carry (matched loosely, see :func:`connector.sources._base.header_key`):

``eac_export``
    the admin center's SMTP AUTH clients Export: TLS 1.0/1.1/1.2 columns → ``imported_tls_aggregate``. The file
    does not state its period: ``--from/--to``, or two ISO dates in the file name
    (``smtp-auth-clients_2026-11-01_2026-11-07.csv``).
``smtp_cs_report``
    a saved ``SmtpCSReport`` file: a message id column → ``smtp_cs_report_row``.
``cas_mailbox``
    ``Get-CASMailbox | Export-Csv``: a ``SmtpClientAuthenticationDisabled`` column → ``mailbox_smtp_posture``,
    as a snapshot of ``--as-of`` (default: the file's modification date, UTC); the org value comes from the
    newest stored ``Get-TransportConfig`` snapshot, if any.
"""

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.engine import Connection

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
from connector.imports.searches import could_match, file_facts, match_search
from connector.sources._base import Normalized, header_key, read_csv_header
from connector.sources.cas_mailbox import CAS_MAILBOX, normalize_cas_mailbox_csv
from connector.sources.eac_export import EAC_EXPORT, EXPORT_REQUIRED, normalize_eac_export
from connector.sources.smtp_cs_report import SMTP_CS_REPORT, normalize_smtp_cs_report
from connector.store import history
from connector.store.posture import org_smtp_auth_disabled
from connector.store.runs import RunCounts
from connector.store.store import Store
from models import ImportedTlsAggregate, MailboxSmtpPosture, SmtpCsReportRow

__all__ = ["FILE_KINDS", "ImportOptions", "ImportRefused", "ImportResult", "detect_kind", "import_file"]

FILE_KINDS = ("eac_export", "smtp_cs_report", "cas_mailbox")
_DATES = re.compile(r"(\d{4}-\d{2}-\d{2})")
_MESSAGE_ID = {header_key(h) for h in ("message_id", "messageId", "internet_message_id", "internetMessageId")}
_TLS = {header_key(h) for k in ("tls10_pct", "tls11_pct", "tls12_pct") for h in EXPORT_REQUIRED[k]}
_CAS = header_key("SmtpClientAuthenticationDisabled")


@dataclass(frozen=True, slots=True)
class ImportOptions:
    period_start: date | None = None
    period_end: date | None = None
    as_of: date | None = None
    #: a SmtpCSReport file: the historical search (job id) it answers; None matches it by name or content
    search: str | None = None
    #: how the file arrived (kept on the search it answers): import, inbox, upload
    via: str = "import"


def detect_kind(header: list[str]) -> str:
    """The kind of file a header belongs to. Raises ImportRefused naming what was expected."""
    keys = {header_key(h) for h in header}
    if _CAS in keys:
        return "cas_mailbox"
    if keys & _MESSAGE_ID:
        return "smtp_cs_report"
    if keys & _TLS:
        return "eac_export"
    shown = ", ".join(h.strip() for h in header[:12] if h.strip()) or "none"
    raise ImportRefused(
        "not a file smtpauth knows: expected an SMTP AUTH clients Export (TLS 1.0/1.1/1.2 columns), an "
        f"SmtpCSReport file (a message_id column) or a Get-CASMailbox export (SmtpClientAuthenticationDisabled); "
        f"found columns: {shown}"
    )


def _period(path: Path, options: ImportOptions) -> tuple[date, date]:
    if options.period_start and options.period_end:
        start, end = options.period_start, options.period_end
    else:
        found = _DATES.findall(path.name)
        if len(found) < 2:
            raise ImportRefused(
                f"{path.name}: an SMTP AUTH clients Export does not say which period it covers: pass --from and "
                "--to, or put both dates in the file name (e.g. smtp-auth-clients_2026-11-01_2026-11-07.csv)"
            )
        try:
            start, end = date.fromisoformat(found[0]), date.fromisoformat(found[1])
        except ValueError:
            raise ImportRefused(f"{path.name}: the dates in the file name are not valid dates") from None
    if end < start:
        raise ImportRefused(f"{path.name}: the period ends ({end}) before it starts ({start})")
    return start, end


def import_file(
    store: Store,
    clock: Clock,
    path: Path,
    *,
    tenant: str,
    options: ImportOptions | None = None,
    writer: ImportWriter | None = None,
) -> ImportResult:
    """Detect and load one file. Re-importing a file already loaded (same sha256) changes nothing.

    With ``writer`` the file joins the writer's group commit (many files in one call). Raises ImportRefused
    (nothing loaded) for an unknown kind, missing columns, bad encoding or no period; OSError when the file
    cannot be read.
    """
    options = options or ImportOptions()
    digest = sha256_of(path)
    if writer is not None and digest in writer.loaded:
        return ImportResult(str(path), "file", digest, already_imported=True)
    done = already_imported(store, tenant, digest)
    if done is not None:
        return ImportResult(str(path), _kind_of(done), digest, already_imported=True)
    try:
        with path.open("rb") as fh:
            kind = detect_kind(read_csv_header(fh))
    except DownloadError as exc:
        raise ImportRefused(f"{path.name}: {exc}") from None

    def load(
        source: str, model: Any, key: tuple[str, ...], rows: Callable[[BinaryIO], Iterable[Normalized]]
    ) -> ImportResult:
        def items() -> Iterator[Normalized]:
            with path.open("rb") as fh:
                yield from rows(fh)

        return load_file_rows(
            store, clock, tenant=tenant, source=source, path=path, sha256=digest, model=model, key=key, rows=items,
            writer=writer,
        )  # fmt: skip

    if kind == "eac_export":
        start, end = _period(path, options)
        return load(
            EAC_EXPORT.name,
            ImportedTlsAggregate,
            EAC_EXPORT.key,
            lambda fh: normalize_eac_export(fh, tenant=tenant, period_start=start, period_end=end, sha256=digest),
        )
    if kind == "smtp_cs_report":
        return _load_report_file(store, clock, path, tenant=tenant, digest=digest, options=options, writer=writer)
    day = options.as_of or datetime.fromtimestamp(path.stat().st_mtime, UTC).date()
    with store.read() as conn:
        org = org_smtp_auth_disabled(conn, tenant, day)
    return load(
        CAS_MAILBOX.name,
        MailboxSmtpPosture,
        CAS_MAILBOX.key,
        lambda fh: normalize_cas_mailbox_csv(fh, tenant=tenant, snapshot_date=day, org_smtp_client_auth_disabled=org),
    )


def _load_report_file(
    store: Store,
    clock: Clock,
    path: Path,
    *,
    tenant: str,
    digest: str,
    options: ImportOptions,
    writer: ImportWriter | None,
) -> ImportResult:
    """A SmtpCSReport file: matched to the search it answers, which is marked loaded with the rows.

    Matching reads the whole file once before loading it; it is skipped when no search could match (none named,
    none waiting), so a backfill of files smtpauth did not ask for reads each file once."""
    job = None
    if could_match(store, tenant, options.search):
        if writer is not None:
            # the searches read below must see what the files before this one marked loaded
            writer.group.commit()
        job = match_search(store, tenant, path, file_facts(path, tenant), options.search)
    job_id = job.job_id if job is not None else None

    def rows() -> Iterator[Normalized]:
        with path.open("rb") as fh:
            yield from normalize_smtp_cs_report(fh, tenant=tenant, job_id=job_id)

    def mark(tx: Connection, counts: RunCounts) -> str:
        if job is None:
            return "not matched to a search smtpauth submitted (rows loaded)"
        history.update_job(
            tx,
            tenant,
            job.job_id,
            status="Done",
            loaded_at=clock.now(),
            file_rows=counts.rows_seen,
            loaded_via=options.via,
            file_sha256=digest,
            error=None,
        )
        return f"search {job.job_id} ({job.title or 'untitled'}) now counts as loaded"

    return load_file_rows(
        store,
        clock,
        tenant=tenant,
        source=SMTP_CS_REPORT.name,
        path=path,
        sha256=digest,
        model=SmtpCsReportRow,
        key=SMTP_CS_REPORT.key,
        rows=rows,
        after=mark,
        writer=writer,
    )


def _kind_of(mark: str) -> str:
    match = re.search(r'"as": "([^"]+)"', mark)
    return match.group(1) if match else "file"
