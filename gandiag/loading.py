"""``gandiag.load_generator``: one way to load any generator source (CONTRACT.md section 3).

Nothing here runs code from a file unless the caller says so: gandiag checkpoints load with
``torch.load(weights_only=True)``, sample files with ``numpy.load(allow_pickle=False)``,
``torch.export`` programs through :mod:`gandiag.program_archive` (which refuses anything pickled
and any operator beyond ATen's computations). TorchScript archives *are* code (their
``__setstate__`` runs while loading and may read or write files), so they are refused unless
``allow_torchscript=True`` (CLI ``--allow-torchscript``) says the file is trusted.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from .checkpoint import read_checkpoint, step_from_name
from .errors import GandiagInputError, SourceError
from .program_archive import load_program
from .generators import (
    CHUNK,
    Generator,
    LatentSpec,
    NetworkGenerator,
    SampleFileGenerator,
    check_output_shape,
)
from .references import Reference, _load_array_file
from .references import reference as _reference
from .architectures import available_architectures, resolve_architecture

CHECKPOINT_SUFFIXES = (".pt", ".pt2", ".npy", ".npz")


def _latent(default: LatentSpec | None, latent: str | None, latent_dim: int | None, source: str) -> LatentSpec:
    dim = latent_dim if latent_dim is not None else (default.dim if default else None)
    if dim is None:
        raise SourceError(source, "the latent dimension cannot be read from the file",
                          hint="pass latent_dim= (CLI: --latent-dim)")
    dist = latent or (default.distribution if default else "normal")
    return LatentSpec(int(dim), dist)


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def _load_checkpoint(path: Path, latent: str | None, latent_dim: int | None, device: str) -> Generator:
    ckpt = read_checkpoint(path)
    arch = ckpt["architecture"]
    name, kwargs = arch["name"], dict(arch.get("kwargs", {}))
    factory = resolve_architecture(name)
    if factory is None:
        raise SourceError(
            path,
            f"its architecture {name!r} is not registered (registered: {', '.join(available_architectures()) or 'none'})",
            hint="install the package that registers it in the 'gandiag.architectures' entry-point group, "
            "or call gandiag.register_architecture(name, factory)",
        )
    try:
        net = factory(**kwargs)
        net.load_state_dict(ckpt["generator"])
    except Exception as exc:
        raise SourceError(path, f"its weights do not fit architecture {name!r} ({type(exc).__name__}: {exc})",
                          hint="the checkpoint and the registered architecture disagree") from exc
    net.eval().to(device)
    spec = ckpt["latent"]
    default = LatentSpec(int(spec["dim"]), str(spec.get("distribution", "normal")))
    n_classes = int(getattr(net, "n_classes", 0) or 0) or None
    return NetworkGenerator(net, _latent(default, latent, latent_dim, str(path)), source=str(path),
                            step=int(ckpt["step"]), n_classes=n_classes, device=device)


TORCHSCRIPT_REFUSED = ("a TorchScript archive: loading one runs code from the file "
                       "(it can read and write any file), so gandiag does not load it by default")
TORCHSCRIPT_HINT = ("pass allow_torchscript=True (CLI: --allow-torchscript) only for a file you trust, "
                    "or export the generator with torch.export.save (.pt2), which gandiag loads without running code")


def _load_torchscript(path: Path, latent: str | None, latent_dim: int | None, device: str) -> Generator:
    try:
        with warnings.catch_warnings():  # torch.jit.load is deprecated in torch >= 2.10; the format is not
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=device)
    except Exception as exc:
        raise SourceError(path, f"not a readable TorchScript archive ({type(exc).__name__})") from exc
    attr = getattr(module, "latent_dim", None)
    default = LatentSpec(attr) if isinstance(attr, int) and not isinstance(attr, bool) and attr > 0 else None
    if default is None and latent_dim is None:
        raise SourceError(path, "this TorchScript archive has no int attribute latent_dim",
                          hint="add `latent_dim: int` to the scripted module, or pass latent_dim= (CLI: --latent-dim)")
    module.eval()
    return NetworkGenerator(module, _latent(default, latent, latent_dim, str(path)), source=str(path),
                            step=step_from_name(path), device=device)


def _load_program(path: Path, latent: str | None, latent_dim: int | None, device: str) -> Generator:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(path, f"cannot be read ({exc.strerror or type(exc).__name__})") from exc
    if not data.startswith(b"PK"):
        raise SourceError(path, "not a readable torch.export program (not a zip archive)")
    program = load_program(path, data)
    user_inputs = list(program.graph_signature.user_inputs)
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    val = nodes[user_inputs[0]].meta.get("val") if user_inputs and user_inputs[0] in nodes else None
    shape = tuple(val.shape) if val is not None else ()
    if len(user_inputs) != 1 or len(shape) != 2:
        raise SourceError(path, f"the program takes {len(user_inputs)} input(s) of shape {shape}",
                          hint="export a module whose only input is z of shape (batch, latent_dim)")
    default = LatentSpec(shape[1]) if isinstance(shape[1], int) else None
    chunk = shape[0] if isinstance(shape[0], int) else CHUNK  # a static batch fixes the chunk size
    module = program.module().to(device)
    return NetworkGenerator(module, _latent(default, latent, latent_dim, str(path)), source=str(path),
                            step=step_from_name(path), chunk=chunk, device=device)


def _load_samples(path: Path) -> Generator:
    try:
        arr = _load_array_file(path)
    except GandiagInputError as exc:
        raise SourceError(path, str(exc).split(": ", 1)[-1]) from exc
    if arr.ndim not in (2, 4):
        raise SourceError(path, f"holds an array of shape {arr.shape}; samples must be (n, d) or (n, C, H, W)")
    if arr.dtype.kind not in "fiub":
        raise SourceError(path, f"holds an array of dtype {arr.dtype}; samples must be numbers")
    data = torch.as_tensor(arr.astype("float32"))
    if not torch.isfinite(data).all():
        raise SourceError(path, "holds NaN or infinite values")
    return SampleFileGenerator(data, source=str(path), step=step_from_name(path))


class Run:
    """The checkpoints of one training run (a folder), ordered by training step, loaded lazily.

    Iterating yields one :class:`Generator` per checkpoint; a checkpoint that fails to load
    raises :class:`SourceError` when it is reached, so callers can record it and go on.
    """

    def __init__(self, folder: Path, paths: list[Path], options: dict[str, Any]) -> None:
        self.folder = folder
        self.paths = paths
        self.options = options

    @property
    def steps(self) -> list[int | None]:
        return [step_from_name(p) for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> Generator:
        return load_generator(self.paths[index], **self.options)

    def __iter__(self) -> Iterator[Generator]:
        return (self.load(i) for i in range(len(self)))

    def __repr__(self) -> str:
        return f"Run(folder={str(self.folder)!r}, checkpoints={len(self)})"


def _run_order(path: Path) -> tuple[int, int, str]:
    step = step_from_name(path)
    return (0, step, path.name) if step is not None else (1, 0, path.name)


def load_generator(
    source: str | Path,
    *,
    latent: str | None = None,
    latent_dim: int | None = None,
    reference: str | Reference | None = None,
    device: str = "cpu",
    allow_torchscript: bool = False,
) -> Generator | Run:
    """Load the generator in ``source`` (CONTRACT.md section 3).

    ``latent`` (``"normal"`` or ``"uniform"``) and ``latent_dim`` override what the file says.
    With ``reference``, the generator's sample shape is checked against the reference's.
    A folder gives a :class:`Run` of its checkpoints ordered by step. Any file that cannot be
    used raises :class:`SourceError` naming the file and the accepted formats.
    ``allow_torchscript=True`` loads TorchScript archives, which runs code from the file: only
    for files you trust (without it they raise :class:`SourceError`).
    """
    path = Path(source)
    options = dict(latent=latent, latent_dim=latent_dim, reference=reference, device=device,
                   allow_torchscript=allow_torchscript)
    if path.is_dir():
        paths = sorted((p for p in path.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and not p.name.startswith(".")),
                       key=_run_order)
        if not paths:
            raise SourceError(path, "folder holds no checkpoints, programs or sample files")
        return Run(path, paths, options)
    if not path.exists():
        raise SourceError(path, "no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".pt2":
        gen = _load_program(path, latent, latent_dim, device)
    elif suffix == ".pt":
        if not _is_torchscript(path):
            gen = _load_checkpoint(path, latent, latent_dim, device)
        elif allow_torchscript:
            gen = _load_torchscript(path, latent, latent_dim, device)
        else:
            raise SourceError(path, TORCHSCRIPT_REFUSED, hint=TORCHSCRIPT_HINT)
    elif suffix in (".npy", ".npz"):
        gen = _load_samples(path)
    else:
        raise SourceError(path, f"unknown file type {suffix or '(no suffix)'!r}")
    if reference is not None:
        ref = _reference(reference)
        check_output_shape(gen, ref.shape, ref.name)
    return gen



def iter_sources(
    sources: Sequence[Any], reference: str | Reference | None = None, **options: Any
) -> tuple[int, Iterator[tuple[str, str, int | None, Generator | SourceError]]]:
    """Expand SOURCEs (files and run folders) into one item per checkpoint, loaded lazily.

    Returns ``(count, items)``; each item is ``(source, run, step, generator)`` where ``run`` is the
    folder for a checkpoint of a run ("" otherwise) and ``generator`` is the :class:`SourceError`
    that loading raised when a SOURCE or a checkpoint inside a run cannot be used, so that callers
    can record it and go on with the others. When *no* SOURCE can be loaded, the first error is
    raised at once (a mistyped path should not start a progress bar).
    """
    loaded: list[Generator | Run | SourceError] = []
    for src in sources:
        try:
            loaded.append(load_generator(src, reference=reference, **options))
        except SourceError as exc:
            loaded.append(exc)
    if loaded and all(isinstance(g, SourceError) for g in loaded):
        raise loaded[0]
    total = sum(len(g) if isinstance(g, Run) else 1 for g in loaded)

    def walk() -> Iterator[tuple[str, str, int | None, Generator | SourceError]]:
        for src, gen in zip(sources, loaded):
            if isinstance(gen, SourceError):
                yield str(src), "", step_from_name(Path(src)), gen
            elif not isinstance(gen, Run):
                yield str(src), "", gen.step, gen
            else:
                for i, (path, step) in enumerate(zip(gen.paths, gen.steps)):
                    try:
                        item: Generator | SourceError = gen.load(i)
                    except SourceError as exc:  # record it and go on with the rest of the run
                        item = exc
                    yield str(path), str(src), step, item

    return total, walk()
