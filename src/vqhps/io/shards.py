"""Parquet shard sets: streaming, schema-checked, atomic writer and a zero-copy reader.

A shard set is a folder::

    meta.json                 kind, schema version, width (n_vertices / n_joints / n_tokens), rows per split
    template.npz              (mesh shards) template vertices and faces of the topology, recorded once
    train/part-000000.parquet
    val/part-000000.parquet
    test/...

Rows are written in the order given (deterministic); each file is written to a temporary name
and renamed into place, and ``meta.json`` is written last, so a reader never sees a partial set.
Paths may be local or any fsspec URL (``s3://``, ``gs://``, ``file://``, ...).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from vqhps.io.atomic import atomic_path, write_text_atomic
from vqhps.io.schemas import KINDS, SCHEMA_VERSION, SPLITS, SchemaError, ShardKind, check_table


class ShardWriter:
    """Stream rows of one shard kind into ``folder``, one Parquet file per ``shard_size`` rows and split."""

    def __init__(
        self,
        folder: str | Path,
        kind: ShardKind,
        size: int,
        shard_size: int,
        row_group_size: int = 256,
        compression: str = "none",
        meta: Mapping[str, Any] | None = None,
    ):
        self.folder = Path(folder)
        self.kind = kind
        self.schema = kind.schema(size)
        self.size = size
        self.shard_size = shard_size
        self.row_group_size = row_group_size
        self.compression = None if compression == "none" else compression
        self.meta = dict(meta or {})
        self._buffers: dict[str, list[pa.Table]] = {s: [] for s in SPLITS}
        self._buffered: dict[str, int] = dict.fromkeys(SPLITS, 0)
        self._files: dict[str, list[str]] = {s: [] for s in SPLITS}
        self._rows: dict[str, int] = dict.fromkeys(SPLITS, 0)
        self._ids: set[str] = set()
        # Dictionaries and min/max statistics help the string columns only; on the big numeric
        # list columns they cost a second pass on write and more than halve the read speed.
        self._string_columns = [f.name for f in self.schema if pa.types.is_string(f.type)]

    def add(self, columns: Mapping[str, Any]) -> None:
        """Append rows; ``columns`` maps every schema column to a sequence or array of equal length.

        Fixed-size list columns accept (N, ...) numpy arrays of the right total width per row.
        """
        table = to_table(columns, self.schema, where=f"rows for {self.folder}")
        ids = table.column("id").to_pylist()
        dup = self._ids.intersection(ids)
        if dup or len(set(ids)) != len(ids):
            raise SchemaError(f"{self.folder}: duplicate row ids, e.g. {sorted(dup)[:3] or ids[:3]}")
        self._ids.update(ids)
        splits = table.column("split").unique().to_pylist()
        for split in SPLITS:
            if split not in splits:
                continue
            # Filtering copies every column: skip it in the usual case of rows from one split.
            part = table if len(splits) == 1 else table.filter(pa.compute.equal(table.column("split"), split))
            if part.num_rows:
                self._buffers[split].append(part)
                self._buffered[split] += part.num_rows
                while self._buffered[split] >= self.shard_size:
                    self._flush(split, self.shard_size)

    def close(self) -> dict[str, Any]:
        """Write the remaining rows and ``meta.json``; returns the meta dict."""
        for split in SPLITS:
            if self._buffered[split]:
                self._flush(split, self._buffered[split])
        meta = {
            "kind": self.kind.name,
            "schema_version": SCHEMA_VERSION,
            self.kind.size_key: self.size,
            "splits": {s: {"rows": self._rows[s], "files": self._files[s]} for s in SPLITS},
            **self.meta,
        }
        write_text_atomic(self.folder / "meta.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return meta

    def _flush(self, split: str, n: int) -> None:
        table = pa.concat_tables(self._buffers[split])
        head, rest = table.slice(0, n), table.slice(n)
        self._buffers[split] = [rest] if rest.num_rows else []
        self._buffered[split] = rest.num_rows
        name = f"{split}/part-{len(self._files[split]):06d}.parquet"
        with atomic_path(self.folder / name) as tmp:
            pq.write_table(
                head,
                tmp,
                row_group_size=self.row_group_size,
                compression=self.compression,
                use_dictionary=self._string_columns,
                write_statistics=self._string_columns,
            )
        self._files[split].append(name)
        self._rows[split] += n


def to_table(columns: Mapping[str, Any], schema: pa.Schema, where: str) -> pa.Table:
    """Columns (numpy arrays or lists) -> a table of exactly ``schema``; zero-copy for float arrays."""
    missing = [f.name for f in schema if f.name not in columns]
    extra = [k for k in columns if k not in schema.names]
    if missing or extra:
        raise SchemaError(f"{where}: columns differ from the schema; missing {missing}, unexpected {extra}")
    arrays = [_to_array(columns[f.name], f.type, f"{where}, column '{f.name}'") for f in schema]
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise SchemaError(f"{where}: columns have different lengths {sorted(lengths)}")
    table = pa.Table.from_arrays(arrays, schema=schema)
    check_table(table, schema, where)
    return table


def _to_array(values: Any, tp: pa.DataType, where: str) -> pa.Array:
    if isinstance(values, pa.ChunkedArray | pa.Array):  # columns of another shard set: no conversion
        if values.type != tp:
            raise SchemaError(f"{where}: Arrow type {values.type}, expected {tp}")
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_fixed_size_list(tp):
        arr = np.asarray(values)
        width = tp.list_size
        dtype = tp.value_type.to_pandas_dtype()
        if arr.size % width or arr.reshape(len(arr), -1).shape[1] != width:
            raise SchemaError(f"{where}: each row must hold {width} values, got array of shape {arr.shape}")
        if arr.dtype != dtype:
            raise SchemaError(f"{where}: expected dtype {np.dtype(dtype).name}, got {arr.dtype}")
        flat = np.ascontiguousarray(arr).reshape(-1)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat), width)
    if pa.types.is_list(tp):
        return pa.array([np.asarray(v, dtype=np.float32) for v in values], type=tp)
    try:
        return pa.array(values, type=tp)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as err:
        raise SchemaError(f"{where}: {err}") from None


class ShardSet:
    """Read a shard set written by :class:`ShardWriter`; every table is schema-checked."""

    def __init__(self, folder: str | Path, kind: ShardKind | str):
        self.kind = KINDS[kind] if isinstance(kind, str) else kind
        self.folder = str(folder)
        self.fs, self.root = _filesystem(self.folder)
        self.local = "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        )
        try:
            with self.fs.open(f"{self.root}/meta.json", "rb") as fh:
                self.meta = json.load(fh)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{self.folder}/meta.json: not a complete shard set (meta.json missing); "
                "re-run the stage that writes it"
            ) from None
        if self.meta.get("kind") != self.kind.name:
            raise SchemaError(
                f"{self.folder}: holds '{self.meta.get('kind')}' shards, expected '{self.kind.name}'"
            )
        if self.meta.get("schema_version") != SCHEMA_VERSION:
            raise SchemaError(
                f"{self.folder}: schema version {self.meta.get('schema_version')}, "
                f"this code reads {SCHEMA_VERSION}; re-run the stage that wrote it"
            )
        self.size = int(self.meta[self.kind.size_key])
        self.schema = self.kind.schema(self.size)

    def num_rows(self, split: str) -> int:
        return int(self.meta["splits"][split]["rows"])

    def files(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        return [f"{self.root}/{name}" for name in self.meta["splits"][split]["files"]]

    def read(self, split: str, columns: list[str] | None = None) -> pa.Table:
        """The whole split as one table (chunked per row group; nothing is concatenated)."""
        tables = [self._read_file(path, columns) for path in self.files(split)]
        if not tables:
            return self.schema.empty_table() if columns is None else self.schema.empty_table().select(columns)
        return pa.concat_tables(tables)

    def iter_row_groups(self, split: str, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """Row groups one at a time (bounded memory); each is schema-checked."""
        expected = self.schema if columns is None else pa.schema([self.schema.field(c) for c in columns])
        for path in self.files(split):
            source = path if self.local else self.fs.open(path, "rb")
            try:
                pf = pq.ParquetFile(source, memory_map=self.local)
                check_table(pf.schema_arrow.empty_table(), self.schema, path)
                for i in range(pf.num_row_groups):
                    table = pf.read_row_group(i, columns=columns)
                    check_table(table, expected, path)
                    yield table
            finally:
                if not self.local:
                    source.close()

    def _read_file(self, path: str, columns: list[str] | None) -> pa.Table:
        if self.local:  # Arrow's own file reader: several times faster than a Python file object
            table = pq.read_table(path, columns=columns, memory_map=True)
        else:
            with self.fs.open(path, "rb") as fh:
                table = pq.read_table(fh, columns=columns)
        expected = self.schema if columns is None else pa.schema([self.schema.field(c) for c in columns])
        check_table(table, expected, path)
        return table


def fixed_list_tensor(column: pa.ChunkedArray | pa.Array, shape: tuple[int, ...]) -> torch.Tensor:
    """A fixed-size-list column -> tensor (N, *shape) without copying when it has one chunk.

    Several chunks (row groups) are concatenated, which copies once. The tensor is read-only
    memory owned by Arrow: copy it before modifying in place.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    with warnings.catch_warnings():  # Arrow memory is read-only by design; documented above
        warnings.simplefilter("ignore", UserWarning)
        parts = [
            torch.from_numpy(c.flatten().to_numpy(zero_copy_only=True)).view(len(c), *shape) for c in chunks
        ]
    if not parts:
        return torch.empty((0, *shape))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def load_vertices(shards: ShardSet, split: str) -> torch.Tensor:
    """All vertices of a split: (N, V, 3) float32 metres, one contiguous writable tensor.

    Decoded row groups are copied once into a preallocated tensor (no intermediate concatenation).
    """
    out = torch.empty((shards.num_rows(split), shards.size, 3), dtype=torch.float32)
    start = 0
    for path in shards.files(split):
        column = shards._read_file(path, ["vertices"]).column("vertices")
        for chunk in column.chunks:
            n = len(chunk)
            np.copyto(
                out[start : start + n].numpy().reshape(-1), chunk.flatten().to_numpy(zero_copy_only=True)
            )
            start += n
    if start != len(out):
        raise SchemaError(
            f"{shards.folder}: meta.json promises {len(out)} {split} rows, the files hold {start}"
        )
    return out


@dataclass(frozen=True)
class MeshTopology:
    """The topology a mesh shard set uses, recorded once beside the shards in ``template.npz``.

    Attributes:
        vertices: (V, 3) float32 template (rest) vertices, metres.
        faces: (F, 3) int64 triangles.
        topology_id: stable name of the topology (body model, variant, version).
        joint_regressor: (17, V) float32 linear regressor to the 17 H36M joints (native order), or None.
        vertex_parts: (V,) int8 garment code per vertex (:mod:`vqhps.render.garments`; the synthetic
            figures' clothes), or None.
    """

    vertices: np.ndarray
    faces: np.ndarray
    topology_id: str
    joint_regressor: np.ndarray | None = None
    vertex_parts: np.ndarray | None = None


def write_template(folder: str | Path, topology: MeshTopology) -> None:
    """Write ``template.npz`` into ``folder`` atomically."""
    arrays = {
        "vertices": np.asarray(topology.vertices, np.float32),
        "faces": np.asarray(topology.faces, np.int64),
        "topology_id": np.array(topology.topology_id),
    }
    if topology.joint_regressor is not None:
        reg = np.asarray(topology.joint_regressor, np.float32)
        if reg.shape != (17, len(arrays["vertices"])):
            raise ValueError(
                f"joint regressor has shape {reg.shape}, expected (17, {len(arrays['vertices'])})"
            )
        arrays["joint_regressor"] = reg
    if topology.vertex_parts is not None:
        parts = np.asarray(topology.vertex_parts, np.int8)
        if parts.shape != (len(arrays["vertices"]),):
            raise ValueError(f"vertex_parts has shape {parts.shape}, expected ({len(arrays['vertices'])},)")
        arrays["vertex_parts"] = parts
    with atomic_path(Path(folder) / "template.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def read_template(folder: str | Path) -> MeshTopology:
    """The :class:`MeshTopology` recorded beside a shard set."""
    path = Path(folder) / "template.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: template missing beside the shards; re-run the stage that wrote them"
        )
    with np.load(path, allow_pickle=False) as z:
        reg = z["joint_regressor"] if "joint_regressor" in z.files else None
        parts = z["vertex_parts"] if "vertex_parts" in z.files else None
        return MeshTopology(z["vertices"], z["faces"], str(z["topology_id"]), reg, parts)


def _filesystem(path: str):
    import fsspec

    fs, root = fsspec.core.url_to_fs(path)
    return fs, root.rstrip("/")
