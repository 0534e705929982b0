"""``python -m jobs.report_worker --job ID [--config FILE]``: run one queued report job, then exit.

Started detached by ``smtpauth request-report``; exit code 0 when the job succeeded, 1 otherwise.
"""

import argparse
from pathlib import Path

from connector.config import load_settings
from connector.sync.factory import open_settings_store
from connector.tenants import with_registry
from jobs.report import recover_report_jobs, run_report_job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.report_worker", description=__doc__)
    parser.add_argument("--job", required=True)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = load_settings(args.config, check_credentials=False, require_tenants=False)
    store = open_settings_store(settings)
    try:
        settings = with_registry(settings, store)
        recover_report_jobs(settings, store)
        job = run_report_job(settings, store, args.job)
        return 0 if job.status == "succeeded" else 1
    finally:
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
