"""Simulated Microsoft 365 tenant: Entra ID, Graph and Exchange admin endpoints (a test double of Microsoft)."""
