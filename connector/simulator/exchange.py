"""Exchange Online admin REST (API notes section 4): ``POST
{exchange}/adminapi/beta/{tenantId}/InvokeCommand``.

Cmdlets: ``Get-TransportConfig``, ``Get-CASMailbox`` (paged), ``Start-HistoricalSearch -ReportType
SmtpCSReport``
and ``Get-HistoricalSearch``. A historical search is NotStarted, then InProgress, then Done with a
``FileUrl`` on the
download host (UTF-16 LE CSV with BOM, downloadable ``history_download_limit`` times). A search whose report
would
exceed ``history_max_rows`` rows ends Failed with an ``ErrorMessage``, as HistoricalSearch reports are capped.
"""

import csv
import io
import itertools
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode

from connector.simulator.app import Call, Download, Handler
from connector.simulator.messages import SimRequest, SimResponse, json_response
from connector.simulator.odata import odata_datetime
from connector.simulator.population import Message, Population

__all__ = ["ANCHOR_MAILBOX", "SMTPCS_COLUMNS", "HistoricalSearch", "exchange_route", "smtpcs_rows"]

ANCHOR_MAILBOX = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"
SMTPCS_COLUMNS = (
    "date",
    "senderName",
    "senderDomain",
    "authMethod",
    "original_client_ip",
    "tls_version",
    "tls_cipher",
    "message_count",
    "message_id",
)


@dataclass(slots=True)
class HistoricalSearch:
    job_id: str
    title: str
    report_type: str
    start: datetime
    end: datetime
    submitted: datetime
    fail: bool = False
    error: str | None = None
    rows: int | None = None
    file_url: str | None = None


@dataclass(slots=True)
class _ExchangeState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    jobs: dict[str, HistoricalSearch] = field(default_factory=dict)


def _error(status: int, code: str, message: str) -> SimResponse:
    return json_response(status, {"error": {"code": code, "message": message, "details": [], "innererror": {}}})


def exchange_route(request: SimRequest, now: datetime) -> tuple[str, Handler, str | None] | SimResponse:
    parts = [unquote(p) for p in request.path.split("/") if p]
    if len(parts) == 4 and parts[:2] == ["adminapi", "beta"] and parts[3] == "InvokeCommand":
        if request.method != "POST":
            return _error(405, "MethodNotAllowed", "InvokeCommand accepts POST only.")
        return "exchange", _invoke, parts[2]
    return _error(404, "NotFound", "The requested resource does not exist.")


def _state(call: Call) -> _ExchangeState:
    with call.sim._lock:
        state = call.sim.exchange_state.setdefault(call.tenant.tenant_id, _ExchangeState())
    assert isinstance(state, _ExchangeState)  # noqa: S101
    return state


def _invoke(call: Call) -> SimResponse:
    if "Exchange.ManageAsApp" not in call.grant.roles:
        return _error(
            401,
            "Unauthorized",
            "The role assigned to application isn't supported in this scenario: "
            "grant the application permission Exchange.ManageAsApp.",
        )
    anchor = (call.request.header("X-AnchorMailbox") or "").lower()
    valid = {(ANCHOR_MAILBOX + d).lower() for d in call.tenant.domains}
    if anchor not in valid:
        return _error(
            400,
            "BadRequest",
            "The X-AnchorMailbox header is missing or does not name this tenant's "
            "system mailbox (APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@<domain>).",
        )
    if not _has_role(call):
        return _error(
            403,
            "Forbidden",
            "The application has no Exchange role: assign View-Only Organization "
            "Management or Global Reader to its service principal.",
        )
    try:
        body = call.request.json()
        cmdlet = body["CmdletInput"]["CmdletName"]
        params = body["CmdletInput"].get("Parameters") or {}
    except (ValueError, KeyError, TypeError):
        return _error(400, "BadRequest", 'The body must be {"CmdletInput": {"CmdletName": ..., "Parameters": {...}}}.')
    if not isinstance(params, dict):
        return _error(400, "BadRequest", "Parameters must be an object.")
    handlers = {
        "get-transportconfig": _transport_config,
        "get-casmailbox": _cas_mailbox,
        "start-historicalsearch": _start_search,
        "get-historicalsearch": _get_search,
    }
    handler = handlers.get(str(cmdlet).lower())
    if handler is None:
        return _error(400, "BadRequest", f"The term '{cmdlet}' is not recognized as a cmdlet available here.")
    return handler(call, params)


def _has_role(call: Call) -> bool:
    app = call.tenant.find_app(call.grant.client_id)
    return app is not None and app.exchange_role is not None


def _context(call: Call) -> str:
    return f"{call.sim.endpoints.exchange}/adminapi/beta/{call.tenant.tenant_id}/$metadata#Collection"


def _transport_config(call: Call, params: dict[str, Any]) -> SimResponse:
    return json_response(
        200,
        {
            "@odata.context": _context(call),
            "value": [
                {
                    "Identity": "Transport Settings",
                    "SmtpClientAuthenticationDisabled": call.tenant.smtp_auth_disabled,
                    "AllowLegacyTLSClients": True,
                }
            ],
        },
    )


def _cas_mailbox(call: Call, params: dict[str, Any]) -> SimResponse:
    pop = call.population
    page = call.sim.settings.cas_page_size
    offset = 0
    token = call.request.query.get("$skiptoken")
    if token is not None:
        saved = call.sim.load_skiptoken(token)
        if saved is None or not isinstance(saved[1], tuple) or saved[1][0] != "cas":
            return _error(400, "BadRequest", "The skip token is not valid.")
        offset = int(saved[1][1])
    size = params.get("ResultSize", "1000")
    limit = pop.users if str(size).lower() == "unlimited" else min(pop.users, int(size))
    end = min(limit, offset + page)
    value = []
    for i in range(offset, end):
        a = pop.account(i)
        value.append(
            {
                "Identity": a.upn.split("@")[0],
                "PrimarySmtpAddress": a.upn,
                "UserPrincipalName": a.upn,
                "SmtpClientAuthenticationDisabled": a.smtp_auth_disabled,
            }
        )
    payload: dict[str, Any] = {"@odata.context": _context(call), "value": value}
    if end < limit:
        next_token = call.sim.save_skiptoken(("cas", end))
        base = f"{call.sim.endpoints.exchange}/adminapi/beta/{call.tenant.tenant_id}/InvokeCommand"
        payload["@odata.nextLink"] = f"{base}?{urlencode({'$skiptoken': next_token})}"
    return json_response(200, payload)


def _parse_when(value: Any) -> datetime:
    text = str(value).strip()
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _start_search(call: Call, params: dict[str, Any]) -> SimResponse:
    report_type = str(params.get("ReportType", ""))
    if report_type.lower() != "smtpcsreport":
        return _error(400, "BadRequest", f"ReportType '{report_type}' is not supported here: use SmtpCSReport.")
    title = str(params.get("ReportTitle", "")).strip()
    if not title:
        return _error(400, "BadRequest", "The ReportTitle parameter is required.")
    try:
        start = _parse_when(params["StartDate"])
        end = _parse_when(params["EndDate"])
    except (KeyError, ValueError):
        return _error(400, "BadRequest", "StartDate and EndDate are required dates (ISO 8601 or MM/dd/yyyy).")
    now = call.now
    if end <= start:
        return _error(400, "BadRequest", "EndDate must be later than StartDate.")
    if start < now - timedelta(days=90):
        return _error(400, "BadRequest", "The StartDate can't be more than 90 days in the past.")
    state = _state(call)
    with state.lock:
        recent = sum(1 for j in state.jobs.values() if j.submitted > now - timedelta(hours=24))
        if recent >= call.sim.settings.history_quota_per_day:
            return _error(
                400,
                "QuotaExceeded",
                f"You have exceeded the quota of {call.sim.settings.history_quota_per_day} historical searches "
                "in 24 hours. Try again later.",
            )
        job = HistoricalSearch(
            job_id=str(uuid.uuid4()),
            title=title,
            report_type="SmtpCSReport",
            start=start,
            end=end,
            submitted=now,
            fail="history_failed" in call.flags,
        )
        state.jobs[job.job_id] = job
    return json_response(200, {"@odata.context": _context(call), "value": [_job_json(call, job)]})


def _get_search(call: Call, params: dict[str, Any]) -> SimResponse:
    state = _state(call)
    job_id = params.get("JobId")
    with state.lock:
        jobs = (
            list(state.jobs.values()) if job_id is None else [state.jobs[j] for j in [str(job_id)] if j in state.jobs]
        )
    if job_id is not None and not jobs:
        return _error(404, "NotFound", f"The historical search {job_id} was not found.")
    return json_response(200, {"@odata.context": _context(call), "value": [_job_json(call, j) for j in jobs]})


def _status(call: Call, job: HistoricalSearch) -> str:
    settings = call.sim.settings
    elapsed = call.now - job.submitted
    if elapsed < call.sim.scaled(settings.history_queue_seconds):
        return "NotStarted"
    if elapsed < call.sim.scaled(settings.history_queue_seconds + settings.history_run_seconds):
        return "InProgress"
    if job.fail:
        job.error = job.error or "The search failed because of an internal error. Submit it again."
        return "Failed"
    if job.rows is None:
        pop, cutoff = call.population, _cutoff(call)
        limit = settings.history_max_rows
        job.rows = sum(1 for _ in itertools.islice(smtpcs_rows(pop, job.start, job.end, cutoff), limit + 1))
        if job.rows > limit:
            job.fail = True
            job.error = (
                f"The report would contain more than {limit} rows, the limit of a historical search report. "
                "Submit searches over shorter date ranges."
            )
            return "Failed"
        start, end = job.start, job.end
        token = call.sim.add_download(
            Download(
                call.tenant.tenant_id,
                lambda: render_smtpcs(smtpcs_rows(pop, start, end, cutoff)),
                None,
                remaining=settings.history_download_limit,
            )
        )
        job.file_url = f"{call.sim.endpoints.download}/historical/{job.job_id}.csv?{urlencode({'sig': token})}"
    return "Done"


def _job_json(call: Call, job: HistoricalSearch) -> dict[str, Any]:
    status = _status(call, job)
    return {
        "JobId": job.job_id,
        "ReportTitle": job.title,
        "ReportType": job.report_type,
        "Status": status,
        "SubmitDate": job.submitted.isoformat(),
        "StartDate": job.start.isoformat(),
        "EndDate": job.end.isoformat(),
        "Rows": job.rows if status == "Done" else 0,
        "FileUrl": job.file_url if status == "Done" else None,
        "ErrorMessage": job.error if status == "Failed" else None,
    }


def _cutoff(call: Call) -> datetime:
    return call.now - timedelta(hours=call.sim.settings.history_latency_hours)


def smtpcs_rows(pop: Population, start: datetime, end: datetime, cutoff: datetime) -> Iterator[Message]:
    """SMTP AUTH messages received in ``[start, end]`` that have reached the report (older than ``cutoff``)."""
    last = min(end, cutoff)
    day: date = max(start.date(), pop.start)
    while day <= last.date():
        for sender in pop.senders:
            if not pop.smtp_count(sender.index, day):
                continue
            for m in pop.account_day(sender.index, day)[0]:
                if m.smtp_auth and start <= m.received <= last:
                    yield m
        day += timedelta(days=1)


def render_smtpcs(messages: Iterator[Message]) -> bytes:
    """UTF-16 LE with BOM, as the historical search service produces."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(SMTPCS_COLUMNS)
    for m in messages:
        writer.writerow(
            [
                odata_datetime(m.received),
                m.sender,
                m.domain,
                m.auth_method,
                m.client_ip,
                m.tls_version,
                m.tls_cipher,
                1,
                m.message_id,
            ]
        )
    return "\ufeff".encode("utf-16-le") + buf.getvalue().encode("utf-16-le")
