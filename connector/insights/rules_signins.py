"""Sign-in rules: a new origin (IP or country) for an account, password spray across accounts from one IP, and
brute force against one account. Authenticated SMTP sign-ins are Basic auth only (API notes section 2)."""

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from connector.config import InsightsSettings
from connector.insights.actions import action_for
from connector.insights.model import Candidate

__all__ = ["brute_force_candidates", "origin_candidates", "spray_candidates"]

Origin = tuple[str, str | None, str | None, datetime, datetime, int, int]
Failure = tuple[str | None, str, date, int, int, datetime, datetime]

#: accounts listed in a spray finding's evidence
_MAX_LISTED = 500


def origin_candidates(cfg: InsightsSettings, rows: Sequence[Origin], judged_start: datetime) -> list[Candidate]:
    """An account with enough baseline sign-ins signing in, in the judged days, from an IP never seen before."""
    per_account: dict[str, list[Origin]] = defaultdict(list)
    for row in rows:
        per_account[row[0]].append(row)
    out: list[Candidate] = []
    for account, groups in sorted(per_account.items()):
        base = [g for g in groups if g[3] < judged_start]
        if sum(g[6] for g in base) < cfg.origin_min_baseline_signins:
            continue
        known_ips = {g[1] for g in base}
        known_countries = {g[2] for g in base}
        new = [g for g in groups if g[1] not in known_ips]
        if not new:
            continue
        new_countries = sorted({str(g[2]) for g in new if g[2] not in known_countries})
        start, end = min(g[3] for g in new), max(g[4] for g in new)
        signins = sum(g[5] for g in new)
        where = f"new countr{'ies' if len(new_countries) > 1 else 'y'} {', '.join(new_countries)}"
        summary = f"{account}: {signins} successful SMTP sign-ins from {len(new)} IP address(es) never seen for it" + (
            f" ({where})" if new_countries else ""
        )
        out.append(
            Candidate(
                kind="new_origin",
                severity="medium" if new_countries else "low",
                account=account,
                window_start=start,
                window_end=end,
                summary=summary,
                action=action_for("new_origin", account),
                evidence={
                    "new_ips": {str(g[1]): {"country": g[2], "signins": g[5]} for g in new},
                    "new_countries": new_countries,
                    "known_countries": sorted(str(c) for c in known_countries),
                    "baseline_signins": sum(g[6] for g in base),
                    "signins": signins,
                    "report": {"sender": account, "from": start.date().isoformat(), "to": end.date().isoformat()},
                },
            )
        )
    return out


def spray_candidates(cfg: InsightsSettings, rows: Sequence[Failure], successes: Sequence[Origin]) -> list[Candidate]:
    """Failed sign-ins from one IP against many accounts in a UTC day; consecutive days make one finding."""
    per_ip_day: dict[tuple[str, date], list[Failure]] = defaultdict(list)
    for row in rows:
        if row[0] is not None:
            per_ip_day[(row[0], row[2])].append(row)
    bursts: dict[str, list[tuple[date, list[Failure]]]] = defaultdict(list)
    for (ip, d), group in sorted(per_ip_day.items()):
        if len({g[1] for g in group}) >= cfg.spray_min_accounts:
            bursts[ip].append((d, group))
    out: list[Candidate] = []
    for ip, days in bursts.items():
        runs: list[list[tuple[date, list[Failure]]]] = []
        for d, group in days:
            if runs and (d - runs[-1][-1][0]).days <= 1:
                runs[-1].append((d, group))
            else:
                runs.append([(d, group)])
        for run in runs:
            out.append(_spray(ip, run, successes))
    return out


def _spray(ip: str, run: list[tuple[date, list[Failure]]], successes: Sequence[Origin]) -> Candidate:
    rows = [r for _, g in run for r in g]
    accounts = sorted({r[1] for r in rows})
    start, end = min(r[5] for r in rows), max(r[6] for r in rows)
    codes = Counter[int]()
    for r in rows:
        codes[r[3]] += r[4]
    failed = sum(codes.values())
    hit = sorted({s[0] for s in successes if s[1] == ip and s[0] in accounts and s[4] >= start})
    summary = f"password spray from {ip}: {failed} failed SMTP sign-ins against {len(accounts)} accounts"
    if hit:
        summary += f"; {len(hit)} of them also signed in successfully from it"
    return Candidate(
        kind="password_spray",
        severity="high",
        account=ip,
        window_start=start,
        window_end=end,
        summary=summary,
        action=action_for("password_spray", ip),
        evidence={
            "ip": ip,
            "failed_signins": failed,
            "error_codes": {str(k): v for k, v in sorted(codes.items())},
            "accounts_count": len(accounts),
            "accounts": accounts[:_MAX_LISTED],
            "accounts_with_success_from_ip": hit,
            "days": {
                d.isoformat(): {"accounts": len({r[1] for r in g}), "failed": sum(r[4] for r in g)} for d, g in run
            },
        },
    )


def brute_force_candidates(
    cfg: InsightsSettings, rows: Sequence[Failure], successes: Sequence[Origin]
) -> list[Candidate]:
    """Many failed sign-ins of one account in a UTC day; high when a failing IP then signed in successfully."""
    per_account_day: dict[tuple[str, date], list[Failure]] = defaultdict(list)
    for row in rows:
        per_account_day[(row[1], row[2])].append(row)
    out: list[Candidate] = []
    for (account, d), group in sorted(per_account_day.items()):
        failed = sum(r[4] for r in group)
        if failed < cfg.brute_force_min_failures:
            continue
        start, end = min(r[5] for r in group), max(r[6] for r in group)
        ips = sorted({str(r[0]) for r in group})
        cracked = sorted({str(s[1]) for s in successes if s[0] == account and str(s[1]) in ips and s[4] >= start})
        codes = Counter[int]()
        for r in group:
            codes[r[3]] += r[4]
        summary = f"{account}: {failed} failed SMTP sign-ins from {len(ips)} IP address(es) in one day"
        if cracked:
            summary += "; a failing IP then signed in successfully"
        out.append(
            Candidate(
                kind="brute_force",
                severity="high" if cracked else "medium",
                account=account,
                window_start=start,
                window_end=end,
                summary=summary,
                action=action_for("brute_force", account),
                evidence={
                    "failed_signins": failed,
                    "error_codes": {str(k): v for k, v in sorted(codes.items())},
                    "ips": ips,
                    "ips_with_later_success": cracked,
                    "days": {d.isoformat(): {"failed": failed}},
                    "report": {"sender": account, "from": d.isoformat(), "to": d.isoformat()},
                },
            )
        )
    return out
