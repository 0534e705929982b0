"""The drift guard: what a source received compared with what its normalizer expects (pure, no I/O).

Microsoft renames CSV columns, adds JSON fields and enum values and drops cmdlet properties without notice. A
:class:`DriftRecorder` is handed to the normalizers; they report each header, object and enum value they see, and
the recorder keeps one :class:`Drift` per difference (de-duplicated, with how often it was seen). The sync stores
them per source in ``schema_drift`` (:func:`connector.store.runs.record_drift`) without failing the run: a run
fails only when a field it needs is gone, as before.

Kinds: ``missing`` (an expected column, key or property was absent), ``unexpected`` (a new one), ``unknown_value``
(a value of an enum we know, compared case-insensitively). OData annotations (``@odata.*``) are ignored.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Drift", "DriftRecorder"]


@dataclass(frozen=True, slots=True)
class Drift:
    subject: str
    kind: str
    name: str
    detail: str


class DriftRecorder:
    """Collects differences for one source run. Cheap to call per object: each distinct key set is checked once."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str, str], Drift] = {}
        self.counts: dict[tuple[str, str, str], int] = {}
        self._checked: set[tuple[str, tuple[str, ...]]] = set()
        self._known: dict[tuple[str, str], frozenset[str]] = {}
        self._values: set[tuple[str, str, object]] = set()

    def __len__(self) -> int:
        return len(self.found)

    def _add(self, subject: str, kind: str, name: str, detail: str) -> None:
        key = (subject, kind, name)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.found.setdefault(key, Drift(subject, kind, name, detail))

    def keys(
        self,
        subject: str,
        seen: Iterable[str],
        expected: Sequence[str],
        *,
        required: Sequence[str] = (),
        unexpected: bool = True,
    ) -> None:
        """Compare the keys of one JSON object (or cmdlet output object) with the expected ones.

        ``unexpected=False`` for cmdlets, whose objects carry many properties we never read.
        """
        keys = tuple(seen)
        if (subject, keys) in self._checked:
            # objects of one answer share their key order: each distinct set is compared once
            return
        self._checked.add((subject, keys))
        names = frozenset(k for k in keys if not k.startswith("@"))
        for name in expected:
            if name not in names:
                need = "needed" if name in required else "optional"
                self._add(subject, "missing", name, f"{need} {name!r} was not in the answer")
        if unexpected:
            known = set(expected)
            for name in sorted(names - known):
                self._add(subject, "unexpected", name, f"new {name!r} (not read)")

    def header(self, subject: str, header: Sequence[str], expected: Sequence[str], *, match: object = None) -> None:
        """Compare a CSV header with the documented columns (loosely: case, spaces, punctuation)."""
        from connector.sources._base import header_key

        seen = {header_key(h): h.strip() for h in header}
        wanted = {header_key(e): e for e in expected}
        for key, name in wanted.items():
            if key not in seen:
                self._add(subject, "missing", name, f"documented column {name!r} was not in the file")
        for key, name in seen.items():
            if key not in wanted and name:
                self._add(subject, "unexpected", name, f"new column {name!r} (not read)")

    def value(self, subject: str, field: str, value: object, known: Sequence[str]) -> None:
        """Note a value of an enum field we do not know (None and empty are not values)."""
        if value is None or value == "" or (subject, field, value) in self._values:
            return
        self._values.add((subject, field, value))
        lowered = self._known.get((subject, field))
        if lowered is None:
            lowered = self._known[(subject, field)] = frozenset(k.lower() for k in known)
        text = str(value)
        if text.lower() not in lowered:
            self._add(subject, "unknown_value", f"{field}={text}", f"{field} has the unknown value {text!r}")

    def summary(self, limit: int = 4) -> str:
        """One line for the run summary and coverage notes."""
        items = [f"{d.kind.replace('_', ' ')} {d.name} ({d.subject})" for d in list(self.found.values())[:limit]]
        more = len(self.found) - len(items)
        return "schema drift: " + "; ".join(items) + (f"; {more} more" if more > 0 else "")
