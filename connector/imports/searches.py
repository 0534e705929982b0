"""A ``SmtpCSReport`` file handed back by an admin, matched to the historical search it answers.

Where the search's ``FileUrl`` wants an admin's browser session, the admin downloads the file (Exchange admin center
> Mail flow > Message trace > Downloadable reports, or the link in the notification e-mail) and hands it back by
``smtpauth import``, the ``inbox/`` folder or the dashboard upload. The file is matched to its search:

1. the search named by the caller (``--search JOB_ID``, the dashboard row's upload);
2. else a search's job id in the file name (the portal names its downloads after it);
3. else by content: the one search not loaded yet whose range holds every row's time and whose senders include
   every row's sender (a waiting search first, then the narrowest range).

A named search must fit the file's content, or the file is refused and nothing is stored. The file's rows and the
search's "loaded" mark are written in one transaction (:func:`connector.imports.loading.load_file_rows`), so the
search then counts as loaded, exactly once.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from connector.errors import DownloadError
from connector.imports.loading import ImportRefused
from connector.sources.smtp_cs_report import normalize_smtp_cs_report
from connector.store import history
from connector.store.history import WAITING_FOR_ADMIN, JobRecord
from connector.store.store import Store

__all__ = ["FileFacts", "could_match", "file_facts", "match_search"]

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: rows are stamped to the second; a search's bounds are kept with this much slack
_SLACK = timedelta(seconds=1)


@dataclass
class FileFacts:
    """What a report file covers: its rows' first and last time and their senders."""

    rows: int = 0
    first: datetime | None = None
    last: datetime | None = None
    senders: set[str] = field(default_factory=set)


def file_facts(path: Path, tenant: str) -> FileFacts:
    """One streamed pass over the file. Raises ImportRefused when it does not read as a report file."""
    facts = FileFacts()
    try:
        with path.open("rb") as fh:
            for row in normalize_smtp_cs_report(fh, tenant=tenant):
                if not isinstance(row, dict):
                    continue
                facts.rows += 1
                at: datetime = row["occurred_at"]
                facts.first = at if facts.first is None or at < facts.first else facts.first
                facts.last = at if facts.last is None or at > facts.last else facts.last
                facts.senders.add(row["sender_address"])
    except DownloadError as exc:
        raise ImportRefused(f"{path.name}: {exc}") from None
    return facts


def _fits(job: JobRecord, facts: FileFacts) -> str | None:
    """Why the file cannot be the search's, or None."""
    first, last = facts.first, facts.last
    if first is not None and last is not None and (first < job.start - _SLACK or last > job.end + _SLACK):
        return (
            f"its rows run from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC, outside the "
            f"search's range {job.start:%Y-%m-%d %H:%M}..{job.end:%Y-%m-%d %H:%M} UTC"
        )
    if job.senders and not facts.senders <= set(job.senders):
        extra = sorted(facts.senders - set(job.senders))
        return f"it holds senders the search did not name ({', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''})"
    return None


def could_match(store: Store, tenant: str, search_id: str | None) -> bool:
    """Whether :func:`match_search` could find (or must check) a search: a named one, or any not loaded yet.
    When not, the file's facts pass (a second read of the whole file) is not needed."""
    if search_id is not None:
        return True
    with store.read() as conn:
        return bool(history.unloaded_jobs(conn, tenant))


def match_search(store: Store, tenant: str, path: Path, facts: FileFacts, search_id: str | None) -> JobRecord | None:
    """The search the file answers, or None when none fits. Raises ImportRefused for a named search that does not
    exist, is loaded already, or does not fit the file."""
    with store.read() as conn:
        if search_id is None:
            named = _GUID.search(path.name)
            if named is not None:
                found = history.get_job(conn, tenant, named.group(0).lower())
                if found is not None and found.loaded_at is None and _fits(found, facts) is None:
                    return found
            candidates = [j for j in history.unloaded_jobs(conn, tenant) if _fits(j, facts) is None]
        else:
            job = history.get_job(conn, tenant, search_id.lower())
            if job is None:
                raise ImportRefused(f"{path.name}: tenant {tenant} has no search {search_id}: nothing loaded")
            if job.loaded_at is not None:
                raise ImportRefused(f"{path.name}: search {search_id} is loaded already: nothing loaded")
            why = _fits(job, facts)
            if why is not None:
                raise ImportRefused(f"{path.name} is not the file of search {search_id}: {why}; nothing loaded")
            return job
    if facts.rows == 0 or not candidates:
        return None
    candidates.sort(key=lambda j: (j.status != WAITING_FOR_ADMIN, j.end - j.start, j.submitted_at))
    return candidates[0]
