"""Scheduled and on-demand jobs: nightly sync, request-report jobs."""
