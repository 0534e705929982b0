"""Request-report jobs over HTTP: request (202 + job id), list, status, artifact download.

A download is served only for a name listed in the job's own manifest (``report_job.artifacts``): the request's
name is looked up, never joined to a path, so ``../`` or an absolute path cannot reach another file.
"""

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from connector.config import ArtifactFormat, Granularity
from connector.errors import ConfigError
from connector.service.auth import Authorized
from connector.service.executor import Executor
from connector.service.inputs import current_settings, fail, known_tenant, refuse_unknown_domains, report_params
from jobs.report import ReportJobView, check_recipients, get_report_job, list_report_jobs, request_report

__all__ = ["CONTENT_TYPES", "router"]

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".parquet": "application/vnd.apache.parquet",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
}


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    tenant: str = Field(max_length=63)
    date_from: str = Field(alias="from", max_length=40)
    date_to: str = Field(alias="to", max_length=40)
    domains: list[str] = Field(default_factory=list, max_length=100)
    senders: list[str] = Field(default_factory=list, max_length=1000)
    formats: list[ArtifactFormat] = Field(default_factory=list, max_length=4)
    signin_ip_only: bool | None = None
    #: period of a sending_volume_by_sender row (default: report.granularity)
    granularity: Granularity | None = None
    #: e-mailed through the notifications relay ([notify] smtp_host) when the job ends
    recipients: list[str] = Field(default_factory=list, max_length=20)


def _job_json(job: ReportJobView) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "tenant": job.tenant,
        "from": job.date_from.isoformat(),
        "to": job.date_to.isoformat(),
        "parameters": job.parameters,
        "status": job.status,
        "requested_at": job.requested_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error": job.error,
        "purged_at": job.purged_at.isoformat() if job.purged_at else None,
        "artifacts": [] if job.purged_at else job.artifacts,
    }


def _job(request: Request, job_id: str) -> ReportJobView:
    if not _JOB_ID.match(job_id):
        fail(status.HTTP_404_NOT_FOUND, "no such report job", "job_id")
    try:
        return get_report_job(request.app.state.store, job_id)
    except ConfigError:
        fail(status.HTTP_404_NOT_FOUND, "no such report job", "job_id")


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def request(request: Request, body: ReportRequest, _: Authorized) -> dict[str, Any]:
    """Queue a report (the admin center's "Request report"); 202 with the job id to poll."""
    settings = current_settings(request)
    params = report_params(
        settings,
        tenant=body.tenant,
        date_from=body.date_from,
        date_to=body.date_to,
        today=request.app.state.runner.clock.now().date(),
        domains=body.domains,
        senders=body.senders,
        formats=list(body.formats),
        signin_ip_only=body.signin_ip_only,
        granularity=body.granularity,
    )
    refuse_unknown_domains(request, params, "domains")
    try:
        recipients = check_recipients(settings, body.recipients, key="recipients")
    except ConfigError as exc:
        fail(status.HTTP_400_BAD_REQUEST, exc.detail, "recipients")
    store = request.app.state.store
    job_id = request_report(store, params, now=request.app.state.runner.clock.now(), recipients=recipients)
    runner: Executor = request.app.state.runner
    runner.submit_report(job_id)
    return _job_json(get_report_job(store, job_id))


@router.get("")
def jobs(
    request: Request,
    _: Authorized,
    tenant: str | None = Query(None, max_length=63),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """Report jobs, newest first."""
    if tenant:
        known_tenant(current_settings(request), tenant)
    return {"jobs": [_job_json(j) for j in list_report_jobs(request.app.state.store, tenant=tenant, limit=limit)]}


@router.get("/{job_id}")
def job(request: Request, job_id: str, _: Authorized) -> dict[str, Any]:
    """One job's status, error and artifact names."""
    return _job_json(_job(request, job_id))


@router.get("/{job_id}/artifacts/{name:path}")
def download(request: Request, job_id: str, name: str, _: Authorized) -> FileResponse:
    """Stream one artifact of a succeeded job, with its content type."""
    found = _job(request, job_id)
    if found.status != "succeeded" or found.artifact_dir is None:
        fail(status.HTTP_409_CONFLICT, f"the job is {found.status}: no artifacts to download", "job_id")
    if found.purged_at is not None:
        fail(status.HTTP_410_GONE, "the artifacts were deleted by the retention policy (report.retention_days)")
    listed = {n: n for n in found.artifacts}
    if name not in listed:
        fail(status.HTTP_404_NOT_FOUND, "no such artifact in this job (see its artifacts list)", "name")
    folder = Path(found.artifact_dir).resolve()
    path = (folder / listed[name]).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        fail(status.HTTP_404_NOT_FOUND, "the artifact file is missing", "name")
    return FileResponse(
        path,
        media_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        filename=path.name,
        headers={"Cache-Control": "no-store"},
    )
