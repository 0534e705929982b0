"""Exchange's ``M/D/YYYY h:mm:ss AM`` stamps are read without ``strptime``: the result must be strptime's, always."""

import random
from datetime import UTC, datetime

import pytest

from connector.sources._base import parse_datetime


def _strptime(text: str) -> datetime | None:
    for fmt in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def test_us_stamps_read_as_strptime_reads_them() -> None:
    rng = random.Random(16)
    compared = 0
    for _ in range(20_000):
        year = rng.choice([1999, 2024, 2026, 20266])
        month, day = rng.randint(0, 13), rng.randint(0, 32)
        hour, minute, second = rng.randint(0, 24), rng.randint(0, 60), rng.randint(0, 60)
        half = rng.choice(["AM", "PM", "am", "pm", "XM", ""])
        pad = rng.random() < 0.5
        stamp = (
            f"{month:02d}/{day:02d}/{year} {hour:02d}:{minute:02d}:{second:02d} {half}"
            if pad
            else f"{month}/{day}/{year} {hour}:{minute}:{second} {half}"
        ).strip()
        want = _strptime(stamp)
        if want is None:
            with pytest.raises(ValueError):  # noqa: PT011 (strptime's and fromisoformat's own messages)
                parse_datetime(stamp, us_formats=True)
        else:
            assert parse_datetime(stamp, us_formats=True) == want, stamp
            compared += 1
    assert compared > 5_000


@pytest.mark.parametrize(
    ("stamp", "want"),
    [
        ("11/20/2026 12:00:01 AM", datetime(2026, 11, 20, 0, 0, 1, tzinfo=UTC)),
        ("11/20/2026 12:00:01 PM", datetime(2026, 11, 20, 12, 0, 1, tzinfo=UTC)),
        ("1/2/2026 1:05:09 pm", datetime(2026, 1, 2, 13, 5, 9, tzinfo=UTC)),
        ("2026-11-20T08:15:30Z", datetime(2026, 11, 20, 8, 15, 30, tzinfo=UTC)),
    ],
)
def test_known_stamps(stamp: str, want: datetime) -> None:
    assert parse_datetime(stamp, us_formats=True) == want
