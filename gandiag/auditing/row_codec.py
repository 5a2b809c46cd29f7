"""A scored row (:class:`gandiag.scoring.ScoreResult`) as JSON text plus pickle-free ``.npz`` bytes, and back.

The result store (:mod:`gandiag.auditing.store`) keeps rows in this form. The encoding is exact
(a decoded row gives a report equal cell for cell) and executes nothing when read:

* plain values (None, bool, int, float including NaN and infinities, str) are JSON, numpy
  scalars become Python ones, pandas' NA becomes None;
* arrays are records of one ``.npz`` archive, read with ``allow_pickle=False`` (an object array
  cannot be stored);
* tables (``pandas.DataFrame``) are their index, column names, and one record per numeric column
  (exact floats), other columns as JSON lists with their dtype name restored on reading;
* the row's parts (flags, mode details, conditional results) are dataclasses of an allow-list:
  a stored type name that is not in it is an error, never an import.
"""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..conditional.evaluate import ConditionalResult
from ..conditional.flags import ConditionalFlags
from ..modes import FlagResult, ModeDetails
from ..scoring import ScoreResult

__all__ = ["decode", "encode"]

#: The dataclasses a stored row may contain, by name.
TYPES: dict[str, type] = {cls.__name__: cls for cls in (ScoreResult, FlagResult, ModeDetails, ConditionalResult,
                                                        ConditionalFlags)}


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, value: np.ndarray) -> dict[str, Any]:
        if value.dtype == object:
            raise TypeError("an object array cannot be stored")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = value
        return {"k": "a", "v": name}

    def frame(self, value: pd.DataFrame) -> dict[str, Any]:
        columns = []
        for name in value.columns:
            col = value[name]
            if col.dtype.kind in "biufc" and not isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
                columns.append(self.array(col.to_numpy()))
            else:
                columns.append({"k": "c", "dtype": str(col.dtype), "v": [self.value(v) for v in col.tolist()]})
        index = value.index
        stored_index = self.array(index.to_numpy()) if index.dtype.kind in "biuf" else \
            {"k": "l", "v": [self.value(v) for v in index.tolist()]}
        return {"k": "f", "names": [self.value(c) for c in value.columns], "columns": columns, "index": stored_index}

    def value(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return {"k": "p", "v": value}
        if isinstance(value, (int, float)):
            return {"k": "p", "v": value}
        if isinstance(value, np.generic):
            return {"k": "p", "v": value.item()}
        if value is pd.NA or value is pd.NaT:
            return {"k": "p", "v": None}
        if isinstance(value, np.ndarray):
            return self.array(value)
        if isinstance(value, pd.DataFrame):
            return self.frame(value)
        if dataclasses.is_dataclass(value) and type(value).__name__ in TYPES:
            return {"k": "d", "t": type(value).__name__,
                    "v": {f.name: self.value(getattr(value, f.name)) for f in dataclasses.fields(value)}}
        if isinstance(value, Mapping):
            if not all(isinstance(k, str) for k in value):
                raise TypeError("a mapping with keys other than strings cannot be stored")
            return {"k": "m", "v": {k: self.value(v) for k, v in value.items()}}
        if isinstance(value, (list, tuple)):
            return {"k": "t" if isinstance(value, tuple) else "l", "v": [self.value(v) for v in value]}
        raise TypeError(f"cannot store a value of type {type(value).__name__}")


def encode(result: ScoreResult) -> tuple[str, bytes]:
    """``(json_text, npz_bytes)`` of ``result`` (see the module docstring)."""
    enc = _Encoder()
    doc = enc.value(result)
    buffer = io.BytesIO()
    np.savez(buffer, **enc.arrays)
    return json.dumps(doc, allow_nan=True), buffer.getvalue()


def _decode(item: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    kind, value = item["k"], item.get("v")
    if kind == "p":
        return value
    if kind == "a":
        return arrays[value]
    if kind == "l":
        return [_decode(v, arrays) for v in value]
    if kind == "t":
        return tuple(_decode(v, arrays) for v in value)
    if kind == "m":
        return {k: _decode(v, arrays) for k, v in value.items()}
    if kind == "c":
        return pd.Series([_decode(v, arrays) for v in value], dtype=item["dtype"] if item["dtype"] != "object" else object)
    if kind == "f":
        names = [_decode(v, arrays) for v in item["names"]]
        data = {name: pd.Series(_decode(col, arrays)) for name, col in zip(names, item["columns"])}
        index = _decode(item["index"], arrays)
        frame = pd.DataFrame(data, columns=names)
        frame.index = pd.Index(index)
        return frame
    if kind == "d":
        cls = TYPES.get(item["t"])
        if cls is None:
            raise ValueError(f"a stored row holds an unknown type {item['t']!r}")
        return cls(**{k: _decode(v, arrays) for k, v in value.items()})
    raise ValueError(f"a stored row holds an unknown kind {kind!r}")


def decode(text: str, blob: bytes) -> ScoreResult:
    """The :class:`ScoreResult` that :func:`encode` gave ``(text, blob)`` for."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    result = _decode(json.loads(text), arrays)
    if not isinstance(result, ScoreResult):
        raise ValueError("a stored row is not a score row")
    return result
