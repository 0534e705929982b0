"""Exchange Online admin REST (API notes sections 4 and 9): ``POST {exchange}/adminapi/beta/{tenantId}/InvokeCommand``.

Cmdlets: ``Get-TransportConfig``, ``Get-CASMailbox`` (paged), ``Start-HistoricalSearch -ReportType SmtpCSReport``
and ``Get-HistoricalSearch``. ``X-AnchorMailbox`` names the organization's system mailbox at one of the tenant's
domains or its tenant id.

``Start-HistoricalSearch`` refuses a search without ``SenderAddress``, ``RecipientAddress`` or ``MessageID``, with
more than 100 addresses in one of them, and past the quota of searches per 24 hours. A search is NotStarted, then
InProgress, then Done with a ``FileUrl`` (UTF-16 LE CSV with BOM, of the given senders' messages only), or Failed
with an ``ErrorDescription`` (a report over ``history_max_rows`` rows fails, as HistoricalSearch reports are
capped). ``Get-HistoricalSearch`` lists the searches of the last ten days with the properties production tools
read (``JobId, Status, JobProgress, Rows, FileRows, ErrorDescription, FileUrl, SubmitDate, CompletionDate`` ...).

The ``FileUrl``: strict (the default) is the protection portal's ``/ExtendedReport/Download`` address, which
answers only an admin's browser session (anything else is redirected to a sign-in page, see
:mod:`connector.simulator.downloads`); permissive is a signed link the app can fetch. Either answers 503 "server
busy" once downloaded ``history_download_limit`` times.
"""

import csv
import io
import itertools
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from connector.simulator.app import Call, Download, Handler
from connector.simulator.messages import SimRequest, SimResponse, json_response
from connector.simulator.odata import odata_datetime
from connector.simulator.population import Message, Population

if TYPE_CHECKING:
    from connector.simulator.app import Simulator

__all__ = [
    "ANCHOR_MAILBOX",
    "MAX_ADDRESSES",
    "SEARCH_PROPERTIES",
    "SMTPCS_COLUMNS",
    "HistoricalSearch",
    "admin_session",
    "exchange_route",
    "portal_file",
    "smtpcs_rows",
]

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


#: most addresses one address parameter of Start-HistoricalSearch takes
MAX_ADDRESSES = 100
#: Get-HistoricalSearch shows the searches of the last ten days
LIST_DAYS = 10
#: the properties a Get-HistoricalSearch object carries (those production tools select)
SEARCH_PROPERTIES = (
    "JobId",
    "ReportTitle",
    "ReportType",
    "Status",
    "JobProgress",
    "Rows",
    "FileRows",
    "ErrorDescription",
    "FileUrl",
    "SubmitDate",
    "CompletionDate",
    "StartDate",
    "EndDate",
    "SenderAddress",
    "RecipientAddress",
    "NotifyAddress",
)
#: properties a "schema_drift" fault drops from cmdlet output (optional ones: the product must cope)
DRIFT_DROPPED = frozenset({"PrimarySmtpAddress", "JobProgress"})


@dataclass(slots=True)
class HistoricalSearch:
    job_id: str
    title: str
    report_type: str
    start: datetime
    end: datetime
    submitted: datetime
    tenant_name: str = ""
    senders: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    message_ids: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    fail: bool = False
    error: str | None = None
    rows: int | None = None
    file_url: str | None = None
    completed: datetime | None = None


@dataclass(slots=True)
class _ExchangeState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    jobs: dict[str, HistoricalSearch] = field(default_factory=dict)
    #: admin browser sessions (cookie value -> tenant id) and the portal files by job id
    sessions: dict[str, str] = field(default_factory=dict)
    files: dict[str, Download] = field(default_factory=dict)


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
    valid = {(ANCHOR_MAILBOX + d).lower() for d in (*call.tenant.domains, call.tenant.tenant_id)}
    if anchor not in valid:
        return _error(
            400,
            "BadRequest",
            "The X-AnchorMailbox header is missing or does not name this tenant's "
            "system mailbox (APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@<domain or tenant id>).",
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
    response = handler(call, params)
    if "schema_drift" in call.flags and response.status == 200:
        payload = response.json()
        payload["value"] = [{k: v for k, v in o.items() if k not in DRIFT_DROPPED} for o in payload.get("value", [])]
        return json_response(200, payload)
    return response


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
    addresses: dict[str, tuple[str, ...]] = {}
    for name in ("SenderAddress", "RecipientAddress", "MessageID", "NotifyAddress"):
        values = _multi(params.get(name))
        if len(values) > MAX_ADDRESSES and name != "NotifyAddress":
            return _error(
                400,
                "BadRequest",
                f"The {name} parameter accepts at most {MAX_ADDRESSES} values; {len(values)} were given.",
            )
        addresses[name] = values
    if not (addresses["SenderAddress"] or addresses["RecipientAddress"] or addresses["MessageID"]):
        return _error(
            400,
            "BadRequest",
            "At least one of the MessageID, RecipientAddress or SenderAddress parameters is required.",
        )
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
            tenant_name=call.tenant.name,
            senders=tuple(a.lower() for a in addresses["SenderAddress"]),
            recipients=tuple(a.lower() for a in addresses["RecipientAddress"]),
            message_ids=addresses["MessageID"],
            notify=addresses["NotifyAddress"],
            fail="history_failed" in call.flags,
        )
        state.jobs[job.job_id] = job
    return json_response(200, {"@odata.context": _context(call), "value": [_job_json(call, job)]})


def _multi(value: Any) -> tuple[str, ...]:
    """A MultiValuedProperty: a JSON array, or one string of comma-separated values."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(s for s in (str(v).strip() for v in items) if s)


def _get_search(call: Call, params: dict[str, Any]) -> SimResponse:
    state = _state(call)
    job_id = params.get("JobId")
    listed = call.now - timedelta(days=LIST_DAYS)
    with state.lock:
        recent = {j.job_id: j for j in state.jobs.values() if j.submitted > listed}
        jobs = list(recent.values()) if job_id is None else [recent[j] for j in [str(job_id)] if j in recent]
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
        job.completed = job.submitted + call.sim.scaled(settings.history_queue_seconds + settings.history_run_seconds)
        job.rows = sum(1 for _ in itertools.islice(_job_rows(pop, job, cutoff), limit + 1))
        if job.rows > limit:
            job.fail = True
            job.error = (
                f"The report would contain more than {limit} rows, the limit of a historical search report. "
                "Submit searches over shorter date ranges."
            )
            return "Failed"
        download = Download(
            call.tenant.tenant_id,
            lambda: render_smtpcs(_job_rows(pop, job, cutoff)),
            None,
            remaining=settings.history_download_limit,
            content_type="text/csv",
        )
        if settings.strict and call.tenant.name not in settings.permissive_tenants:
            with _state(call).lock:
                _state(call).files[job.job_id] = download
            query = urlencode({"Type": "OnDemandReport", "RequestID": job.job_id})
            job.file_url = f"{call.sim.endpoints.download}/ExtendedReport/Download?{query}"
        else:
            token = call.sim.add_download(download)
            job.file_url = f"{call.sim.endpoints.download}/historical/{job.job_id}.csv?{urlencode({'sig': token})}"
    return "Done"


def _job_rows(pop: Population, job: HistoricalSearch, cutoff: datetime) -> Iterator[Message]:
    """The search's messages: of its senders, its message ids (a search by recipient only finds no SMTP AUTH
    submission in this simulation)."""
    senders, ids = set(job.senders), set(job.message_ids)
    for m in smtpcs_rows(pop, job.start, job.end, cutoff):
        if (senders and m.sender in senders) or (ids and m.message_id in ids):
            yield m


def _job_json(call: Call, job: HistoricalSearch) -> dict[str, Any]:
    status = _status(call, job)
    done = status == "Done"
    progress = {"NotStarted": 0, "InProgress": 50}.get(status, 100)
    return {
        "JobId": job.job_id,
        "ReportTitle": job.title,
        "ReportType": job.report_type,
        "Status": status,
        "JobProgress": progress,
        "Rows": job.rows if done else 0,
        "FileRows": job.rows if done else 0,
        "ErrorDescription": job.error if status == "Failed" else None,
        "FileUrl": job.file_url if done else None,
        "SubmitDate": job.submitted.isoformat(),
        "CompletionDate": job.completed.isoformat() if job.completed and status in ("Done", "Failed") else None,
        "StartDate": job.start.isoformat(),
        "EndDate": job.end.isoformat(),
        "SenderAddress": list(job.senders),
        "RecipientAddress": list(job.recipients),
        "NotifyAddress": list(job.notify),
    }


def admin_session(sim: "Simulator", tenant_name: str) -> str:
    """The cookie value of an admin signed in to the tenant's admin center (the browser session the portal's
    download wants). The test double of an admin's sign-in: tests and the demo use it to play the admin."""
    tenant = sim.directory.tenant(tenant_name)
    with sim._lock:
        state = sim.exchange_state.setdefault(tenant.tenant_id, _ExchangeState())
    assert isinstance(state, _ExchangeState)  # noqa: S101
    token = secrets.token_urlsafe(24)
    with state.lock:
        state.sessions[token] = tenant.tenant_id
    return token


def portal_file(sim: "Simulator", session: str, job_id: str) -> Download | str | None:
    """The file of ``job_id`` for an admin session: the Download, None when the session is not valid for it,
    or ``"missing"`` when no such file exists."""
    for state in list(sim.exchange_state.values()):
        if not isinstance(state, _ExchangeState):
            continue
        with state.lock:
            download = state.files.get(job_id)
            if download is None:
                continue
            return download if state.sessions.get(session) == download.tenant_id else None
    return "missing"


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
