"""The read side: every query the report artifacts, the API, the dashboard, readiness and the insights run.

They read the rollups (``models/rollups.py``, kept by ``connector.store.rollups``), sized senders by days, and a
few small snapshot tables (usage report, mailbox posture, imported exports); never string or date functions over
raw rows. ``connector.artifacts``, ``connector.service`` and ``connector.insights`` all import from here.
"""
