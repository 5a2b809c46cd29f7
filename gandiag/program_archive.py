"""Read a ``torch.export`` archive (``.pt2``) without running code from it.

``torch.export.load`` is not safe on a file from someone else. In torch 2.14 it

* unpickles, with ``weights_only=False``, every weight or constant that the archive's payload
  config marks ``"use_pickle": true``, legacy ``weights/model.pt`` files, "opaque" constants
  (``pickle.loads``) and TorchScript custom objects;
* retries the pickled sample inputs with ``weights_only=False`` when ``weights_only=True`` refuses
  them (logging a warning that a caller who silences ``torch.export`` never sees);
* resolves each node's target by walking attributes from the ``torch`` module, so a node can call
  any function reachable from it (``torch.os.system``), and calls ATen operators that read or
  write files (``aten::from_file``, ``aten::save``);
* parses shape expressions with ``sympy.sympify`` (which is ``eval``), ``exec``-utes the
  archive's ``guards_code`` when ``ExportedProgram.module()`` builds the module, and imports any
  module named by an ``__enum__`` entry of a pytree spec.

This module therefore reads the archive itself (with torch's own zip reader, on bytes held in
memory, so what is checked is what is loaded) and admits only a *program that computes*:

1. the archive holds only the records ``torch.export.save`` writes for one model, and nothing
   pickled: every weight and constant is a raw tensor record (``use_pickle`` false), constants
   are tensors, the sample inputs load with ``torch.load(weights_only=True)`` or the file is
   refused;
2. every node target and operator argument is an ATen operator (minus :data:`DENIED_OPERATORS`,
   the ones that touch files), one of the symbolic-shape operators of torch's serializer, or the
   higher-order ``cond``/``while_loop``;
3. every shape expression uses only digits, operators, shape symbols (``s0``, ``u1``) and the
   sympy names of :data:`EXPRESSION_NAMES`: no attributes, no builtins, and no quotes except a
   symbol's name in ``Symbol('s0', ...)`` and a number in ``Float('1.5', ...)``;
4. pytree specs name no enum to import; node metadata (stack traces, module stacks), module
   metadata and ``guards_code`` are dropped before deserialisation (gandiag checks the input
   shape itself).

The program is then built by torch's deserializer from the checked pieces, with
``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1`` in force as a second lock, and its graph (and every
subgraph) is checked once more. Anything outside this subset raises :class:`UnsafeProgram`,
naming what was found. The rules follow torch 2.14's deserializer; when torch's private
loading API is missing (another torch), ``.pt2`` files are refused rather than loaded unchecked.
"""

from __future__ import annotations

import contextlib
import io
import json
import operator
import os
import re
import warnings
from typing import Any, Iterator

import torch

from .errors import SourceError

#: ATen operators a program may not call: they read or write files.
DENIED_OPERATORS = frozenset({"aten::from_file", "aten::save"})
#: Higher-order operators a program may use (their subgraphs are checked like the main graph).
ALLOWED_HIGHER_ORDER = frozenset({"cond", "while_loop"})
#: Function names allowed in shape expressions (torch's sympy functions and sympy's basics).
EXPRESSION_NAMES = frozenset({
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt", "FloorToInt",
    "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv",
    "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal",
    "ToFloat", "Identity", "Max", "Min", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not",
    "Abs", "floor", "ceiling", "sqrt", "oo", "zoo", "nan", "True", "False", "Piecewise",
    # sympy's own classes, as ``srepr`` writes them, and their assumption keywords
    "Add", "Mul", "Pow", "Integer", "Rational", "Float", "Symbol", "Equality", "Unequality",
    "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan", "BooleanTrue", "BooleanFalse",
    "true", "false", "Infinity", "NegativeInfinity", "IntInfinity", "NegativeIntInfinity", "Half",
    "One", "Zero", "NegativeOne", "positive", "negative", "nonnegative", "nonpositive", "integer",
    "real", "finite", "infinite", "zero", "nonzero", "even", "odd", "precision",
})
MODEL = "model"
MAX_EXPRESSION = 4000

_FIXED_RECORDS = frozenset({
    "archive_format", "archive_version", ".data/version", ".data/serialization_id", "byteorder",
    f"models/{MODEL}.json", f"data/weights/{MODEL}_weights_config.json",
    f"data/constants/{MODEL}_constants_config.json", f"data/sample_inputs/{MODEL}.pt",
})
_TARGET = re.compile(r"^(torch\.ops\.(aten|higher_order)\.[A-Za-z_]\w*(\.[A-Za-z_]\w*)?"
                     r"|_operator\.[a-z_]+|torch\.(sym_[a-z]+|_sym_sqrt)|math\.[a-z]+)$")
_EXPR_CHARS = re.compile(r"^[A-Za-z0-9_+\-*/%(), .<>=!&|~^]*$")
_EXPR_TOKEN = re.compile(r"\d+\.?\d*(?:[eE][+-]?\d+)?|[A-Za-z_]\w*|\.\s*[A-Za-z_]|\S")
_SYMBOL = re.compile(r"^[a-z]{1,4}\d+$")
#: the only quoted text a shape expression holds: ``Symbol('s0', ...)`` and ``Float('1.5', ...)``
_QUOTED = re.compile(r"\b(Symbol|Float)\('([^']*)'")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class UnsafeProgram(SourceError):
    """A ``.pt2`` archive that holds something beyond a program that computes."""


def _refuse(path: object, what: str) -> UnsafeProgram:
    return UnsafeProgram(
        path, f"refused: {what}; a program like this can run code or touch files when it is loaded",
        hint="gandiag loads torch.export programs made of ATen operators and raw tensor weights only; "
        "re-export the generator with torch.export.export and torch.export.save",
    )


def check_expression(path: object, expr: Any) -> None:
    """Refuse a shape expression that ``sympy.sympify`` could turn into code."""
    if not isinstance(expr, str) or len(expr) > MAX_EXPRESSION:
        raise _refuse(path, f"a shape expression {str(expr)[:60]!r} is not a short string")

    def unquote(m: re.Match) -> str:
        kind, text = m.group(1), m.group(2)
        if not (_SYMBOL if kind == "Symbol" else _FLOAT).match(text):
            raise _refuse(path, f"a shape expression {expr[:60]!r} quotes {text[:40]!r}")
        return f"{kind}({text}"

    bare = _QUOTED.sub(unquote, expr)
    if not _EXPR_CHARS.match(bare):
        raise _refuse(path, f"a shape expression {expr[:60]!r} holds characters no shape uses")
    for token in _EXPR_TOKEN.findall(bare):
        if token.startswith(".") and len(token) > 1:
            raise _refuse(path, f"a shape expression {expr[:60]!r} reads an attribute")
        if (token[0].isalpha() or token[0] == "_") and token not in EXPRESSION_NAMES and not _SYMBOL.match(token):
            raise _refuse(path, f"a shape expression {expr[:60]!r} names {token!r}")


def allowed_target(obj: Any) -> bool:
    """Whether a resolved node target is an operator a safe program may call."""
    from torch._export.serde.serialize import _SYM_OPS

    if isinstance(obj, torch._ops.OpOverload):
        return obj.namespace == "aten" and obj._schema.name not in DENIED_OPERATORS
    if isinstance(obj, torch._ops.HigherOrderOperator):
        return obj.name() in ALLOWED_HIGHER_ORDER
    if obj is operator.getitem:  # picks one result of an operator that returns several (while_loop, max.dim)
        return True
    try:
        return obj in _SYM_OPS
    except TypeError:  # unhashable
        return False


def _resolve(name: str) -> Any:
    """Resolve a target string of the forms :data:`_TARGET` admits (as torch's deserializer does)."""
    import math
    import operator

    head, *rest = name.split(".")
    obj: Any = {"torch": torch, "_operator": operator, "math": math}[head]
    for part in rest:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def check_target(path: object, target: Any) -> None:
    """Refuse a serialized node target that is not an allowed operator."""
    if not isinstance(target, str) or not _TARGET.match(target) or not allowed_target(_resolve(target)):
        raise _refuse(path, f"the program calls {str(target)[:80]!r}")


def _no_enum(path: object, obj: dict) -> dict:
    if "__enum__" in obj:
        raise _refuse(path, "a pytree spec names a Python enum to import")
    return obj


def check_treespec(path: object, spec: Any) -> None:
    """Refuse a serialized pytree spec whose contexts would import a module (``__enum__``)."""
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            context = node.get("context")
            if isinstance(context, str):
                try:
                    json.loads(context, object_hook=lambda o: _no_enum(path, o))
                except json.JSONDecodeError:
                    pass  # torch refuses it on its own
            for child in node.get("children_spec", ()) or ():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    if not isinstance(spec, str):
        raise _refuse(path, "a pytree spec is not a string")
    try:
        walk(json.loads(spec, object_hook=lambda o: _no_enum(path, o)))
    except json.JSONDecodeError as exc:
        raise _refuse(path, "a pytree spec is not JSON") from exc


def sanitize_program_json(path: object, program: Any) -> Any:
    """Check the parsed ``models/model.json`` in place and drop what could run code.

    Node targets and operator arguments must pass :func:`check_target`, every ``expr_str``
    :func:`check_expression`, every ``in_spec``/``out_spec`` :func:`check_treespec`; node and
    module metadata and ``guards_code`` are emptied. Returns the same object.
    """
    if not isinstance(program, dict) or not isinstance(program.get("graph_module"), dict):
        raise SourceError(path, "not a torch.export program (models/model.json has no graph_module)")
    program["guards_code"] = []
    program["graph_module"]["metadata"] = {}

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            if "target" in obj and "inputs" in obj and "outputs" in obj:
                check_target(path, obj["target"])
                obj["metadata"] = {}
            for key, value in obj.items():
                if key == "expr_str":
                    check_expression(path, value)
                elif key == "as_operator":
                    check_target(path, value)
                elif key in ("in_spec", "out_spec"):
                    check_treespec(path, value)
                else:
                    walk(value)
        elif isinstance(obj, list):
            for item in obj:
                walk(item)

    walk(program)
    return program


def _payload_config(path: object, reader: Any, name: str, prefix: str, records: set[str]) -> dict:
    try:
        config = json.loads(reader.read_string(name))
        entries = config["config"]
        assert isinstance(entries, dict)
    except Exception as exc:
        raise SourceError(path, f"not a torch.export program ({name} is unreadable)") from exc
    for fqn, meta in entries.items():
        if not isinstance(meta, dict) or meta.get("use_pickle") is not False:
            raise _refuse(path, f"{name} marks {str(fqn)[:60]!r} as pickled")
        record = meta.get("path_name")
        if not isinstance(record, str) or not re.fullmatch(rf"{prefix}\d+", record):
            raise _refuse(path, f"{name} stores {str(fqn)[:60]!r} as {str(record)[:60]!r}, not as a tensor")
        full = name.rsplit("/", 1)[0] + "/" + record
        if full not in records:
            raise SourceError(path, f"not a complete torch.export program ({full} is missing)")
        tensor_meta = meta.get("tensor_meta") or {}
        sizes = [s.get("as_int") if isinstance(s, dict) else None for s in tensor_meta.get("sizes", [])]
        if any(not isinstance(s, int) or s < 0 for s in sizes):
            raise SourceError(path, f"not a torch.export program ({name}: sizes of {str(fqn)[:60]!r} are not integers)")
        numel = 1
        for s in sizes:
            numel *= s
        if numel and reader.archive_file.get_record_size(full) == 0:
            raise SourceError(path, f"{full} is empty but declares {numel} elements")
    return config


def _records(path: object, reader: Any) -> set[str]:
    names = set(reader.get_file_names())
    for name in names:
        ok = name in _FIXED_RECORDS or name.startswith("extra/") or re.fullmatch(
            r"data/weights/weight_\d+|data/constants/tensor_\d+", name)
        if not ok:
            raise _refuse(path, f"the archive holds a record {name[:80]!r} that gandiag does not load")
    for needed in (f"models/{MODEL}.json", f"data/weights/{MODEL}_weights_config.json",
                   f"data/constants/{MODEL}_constants_config.json", "archive_version"):
        if needed not in names:
            raise SourceError(path, f"not a torch.export program (the archive has no {needed})")
    return names


def _sample_inputs(path: object, reader: Any, names: set[str]) -> tuple:
    name = f"data/sample_inputs/{MODEL}.pt"
    if name not in names:
        return ((), {})
    data = reader.read_bytes(name)
    if not data:
        return ((), {})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inputs = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise _refuse(path, "its sample inputs hold pickled Python objects") from exc
    if not isinstance(inputs, tuple):
        raise SourceError(path, "not a torch.export program (its sample inputs are not a tuple)")
    return inputs


@contextlib.contextmanager
def _weights_only_everywhere() -> Iterator[None]:
    """Force ``torch.load(weights_only=True)`` for the duration (a second lock behind the checks)."""
    saved = {k: os.environ.get(k) for k in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_graph(path: object, graph_module: torch.fx.GraphModule) -> None:
    """Refuse a deserialized program whose graph (or any subgraph) calls a target not allowed."""
    for module in graph_module.modules():
        graph = getattr(module, "graph", None)
        if not isinstance(graph, torch.fx.Graph):
            continue
        for node in graph.nodes:
            if node.op in ("call_function", "call_method") and not allowed_target(node.target):
                raise _refuse(path, f"the program calls {node.target!s:.80}")


def load_program(path: object, data: bytes) -> torch.export.ExportedProgram:
    """The program in the ``.pt2`` archive ``data`` (the bytes of ``path``), checked as above.

    Raises :class:`UnsafeProgram` for anything that could run code, :class:`SourceError` for an
    archive that is damaged or not a ``torch.export`` program.
    """
    try:
        from torch._export.serde import schema
        from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass
        from torch.export.pt2_archive._package import PT2ArchiveReader, _load_constants, _load_state_dict
    except ImportError as exc:  # another torch: refuse rather than load unchecked
        raise SourceError(path, f"torch {torch.__version__} lacks the export internals gandiag checks "
                          ".pt2 archives with, so it does not load them",
                          hint="use torch 2.14, or save the generator as a gandiag checkpoint") from exc
    try:
        with PT2ArchiveReader(io.BytesIO(data)) as reader:
            names = _records(path, reader)
            if reader.read_string("archive_version") != "0":
                raise SourceError(path, "not a torch.export program this torch reads (archive version)")
            _payload_config(path, reader, f"data/weights/{MODEL}_weights_config.json", "weight_", names)
            _payload_config(path, reader, f"data/constants/{MODEL}_constants_config.json", "tensor_", names)
            inputs = _sample_inputs(path, reader, names)
            try:
                program_json = json.loads(reader.read_string(f"models/{MODEL}.json"))
            except Exception as exc:
                raise SourceError(path, "not a torch.export program (models/model.json is not JSON)") from exc
            sanitize_program_json(path, program_json)
            with _weights_only_everywhere():
                state_dict = _load_state_dict(reader, MODEL)
                constants = _load_constants(reader, MODEL)
            if not isinstance(state_dict, dict) or not isinstance(constants, dict):
                raise _refuse(path, "its weights are stored in the legacy pickled format")
            serialized = _dict_to_dataclass(schema.ExportedProgram, program_json)
            with _weights_only_everywhere():  # nothing is silenced: torch's own warnings stay visible
                program = ExportedProgramDeserializer().deserialize(serialized, state_dict, constants, inputs)
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(path, f"not a readable torch.export program ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:120] if str(exc) else ''})") from exc
    check_graph(path, program.graph_module)
    return program
