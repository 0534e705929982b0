"""Parquet files, one per table under ``parquet/``: typed columns (dates, UTC timestamps, int64, float64, bool)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from connector.artifacts.safety import atomic_path
from connector.artifacts.tables import ColumnType, TableSpec

__all__ = ["ParquetSink"]

_TYPES: dict[ColumnType, pa.DataType] = {
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "text": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}


def schema_of(table: TableSpec) -> pa.Schema:
    return pa.schema([pa.field(c.name, _TYPES[c.type]) for c in table.columns])


class ParquetSink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder / "parquet"
        self.paths: list[Path] = []
        self._ctx: Any = None
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def begin(self, table: TableSpec) -> None:
        final = self.folder / f"{table.name}.parquet"
        self._ctx = atomic_path(final)
        tmp = self._ctx.__enter__()
        self._schema = schema_of(table)
        self._writer = pq.ParquetWriter(str(tmp), self._schema, compression="zstd")
        self.paths.append(final)

    def write(self, table: TableSpec, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows or self._writer is None or self._schema is None:
            return
        columns = list(zip(*rows, strict=True))
        arrays = [pa.array(col, type=f.type) for col, f in zip(columns, self._schema, strict=True)]
        self._writer.write_batch(pa.record_batch(arrays, schema=self._schema))

    def end(self, table: TableSpec) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        self._ctx.__exit__(None, None, None)
        self._ctx = None

    def close(self) -> list[Path]:
        return list(self.paths)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._ctx is not None:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
