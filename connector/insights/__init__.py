"""Insights: unusual SMTP AUTH activity (findings) and readiness for the Basic auth switch-off.

Detection reads the stored data only (no Graph call): aggregate queries in SQL, small rules in Python over the
aggregates, findings merged into the ``finding`` table on a stable key. See ``docs/insights.md``.
"""

from connector.insights.detect import DetectionResult, detect, run_detection
from connector.insights.model import Candidate
from connector.insights.store import acknowledge, list_findings, save_findings

__all__ = ["Candidate", "DetectionResult", "acknowledge", "detect", "list_findings", "run_detection", "save_findings"]
