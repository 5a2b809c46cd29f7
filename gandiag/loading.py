"""``gandiag.load_generator``: one way to load any generator source (docs/contract.md section 3).

Nothing here runs code from a file unless the caller says so: gandiag checkpoints load with
``torch.load(weights_only=True)``, sample files with ``numpy.load(allow_pickle=False)``,
``torch.export`` programs through :mod:`gandiag.program_archive` (which refuses anything pickled
and any operator beyond ATen's computations). TorchScript archives *are* code (their
``__setstate__`` runs while loading and may read or write files), so they are refused unless
``allow_torchscript=True`` (CLI ``--allow-torchscript``) says the file is trusted.

Loading a file and every ``sample`` call of what it holds run within ``timeout`` seconds
(:mod:`gandiag.timeouts`; CLI ``--timeout``): an endless program is that source's one-line error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from ._arrays import check_samples, one_line
from .checkpoint import read_checkpoint, step_from_name
from .errors import GandiagInputError, SourceError
from .program_archive import load_program
from .conditional_loading import conditional_program, labelled_npz, translation_checkpoint
from .generators import (
    CHUNK,
    Generator,
    LatentSpec,
    NetworkGenerator,
    SampleFileGenerator,
    as_generator,
    check_device,
    check_output_shape,
)
from .network_build import build_network
from .references import Reference
from .sample_files import IMAGE_SUFFIXES, load_array_file, load_image_folder
from .references import reference as _reference
from .architectures import available_architectures, resolve_architecture
from .defaults import DEFAULTS
from .timeouts import check_timeout, limits_available, probe_in_child, time_limit
from .torchscript_loading import JIT_PROBE, TORCHSCRIPT_HINT, TORCHSCRIPT_REFUSED, is_torchscript, load_torchscript

CHECKPOINT_SUFFIXES = (".pt", ".pt2", ".npy", ".npz")


def _load_checkpoint(path: Path, latent: str | None, latent_dim: int | None, device: str) -> Generator:
    ckpt = read_checkpoint(path)  # field types checked: checkpoint.check_fields
    arch = ckpt["architecture"]
    name, kwargs = arch["name"], dict(arch.get("kwargs", {}))
    try:
        factory = resolve_architecture(name)
    except Exception as exc:  # an entry point whose package fails to import
        raise SourceError(path, f"the package registering architecture {name!r} failed to load "
                          f"({type(exc).__name__}: {one_line(exc, 160)})", hint="reinstall it") from exc
    if factory is None:
        raise SourceError(
            path,
            f"its architecture {name!r} is not registered (registered: {', '.join(available_architectures()) or 'none'})",
            hint="install the package that registers it in the 'gandiag.architectures' entry-point group, "
            "or call gandiag.register_architecture(name, factory)",
        )
    net = build_network(path, name, factory, kwargs, ckpt["generator"])
    if "translation" in ckpt:  # G: X -> Y with its inverse F (the cyclegan recipe)
        return translation_checkpoint(path, ckpt, net, lambda n, k, s: build_network(
            path, n, resolve_architecture(n), k, s), device)
    net.eval().to(device)
    spec = ckpt["latent"]
    n_classes = getattr(net, "n_classes", 0)
    n_classes = n_classes if type(n_classes) is int and n_classes > 0 else None
    return NetworkGenerator(net, LatentSpec.for_file(path, spec["dim"], spec.get("distribution", "normal"), latent, latent_dim),
                            source=str(path), step=ckpt["step"], n_classes=n_classes, device=device)


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
    if len(user_inputs) == 2 and len(shape) == 2:  # z and a class label y: a conditional program
        file_dim = shape[1] if isinstance(shape[1], int) else None
        return conditional_program(path, program, LatentSpec.for_file(path, file_dim, "normal", latent, latent_dim), device,
                                   step_from_name(path))
    if len(user_inputs) != 1 or len(shape) != 2:
        raise SourceError(path, f"the program takes {len(user_inputs)} input(s) of shape {shape}",
                          hint="export a module whose only input is z of shape (batch, latent_dim) (a conditional "
                          "one: z and integer y of shape (batch,))")
    file_dim = shape[1] if isinstance(shape[1], int) else None
    chunk = shape[0] if isinstance(shape[0], int) else CHUNK  # a static batch fixes the chunk size
    module = program.module().to(device)
    return NetworkGenerator(module, LatentSpec.for_file(path, file_dim, "normal", latent, latent_dim), source=str(path),
                            step=step_from_name(path), chunk=chunk, device=device)


def _load_samples(path: Path) -> Generator:
    try:
        arr = load_array_file(path)  # header checked before reading: no objects, size within the budget
    except GandiagInputError as exc:
        raise SourceError(path, str(exc).split(": ", 1)[-1]) from exc
    check_samples(arr, path)  # rank, dtype, finite, magnitude, image range: the file as a whole
    return SampleFileGenerator(torch.as_tensor(arr.astype("float32")), source=str(path), step=step_from_name(path))


def _load_image_samples(path: Path) -> Generator:
    """A folder of images as generated samples, scaled to [-1, 1] as a reference folder is (docs/contract.md section 3)."""
    try:
        arr = load_image_folder(path)
    except GandiagInputError as exc:  # a corrupt image: this source's one line, naming the image
        raise SourceError(path, str(exc).removeprefix(f"{path}{os.sep}").removeprefix(f"{path}: "), hint="") from exc
    check_samples(arr, path)
    return SampleFileGenerator(torch.as_tensor(arr), source=str(path), step=None)


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
        path = self.paths[index]
        if path.is_dir():  # a folder (or a link to one) named like a checkpoint: not a run inside the run
            raise SourceError(path, "a folder inside a run folder, named like a checkpoint; a run's checkpoints "
                              "are files")
        return load_generator(path, **self.options)

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
    timeout: float | None = DEFAULTS["timeout"],
) -> Generator | Run:
    """Load the generator in ``source`` (README "Load any generator and draw samples").

    Nothing in the file runs as code unless ``allow_torchscript=True``: checkpoints load with
    ``torch.load(weights_only=True)``, programs through :mod:`gandiag.program_archive`, samples
    with ``numpy.load(allow_pickle=False)``.

    Parameters
    ----------
    source : str, Path, or an object in memory
        A gandiag checkpoint (``.pt``), a ``torch.export`` program (``.pt2``), a TorchScript
        archive (``.pt``, only with ``allow_torchscript``), samples (``.npy``/``.npz``), or a folder;
        or a ``torch.nn.Module``, a callable ``z -> x`` or an array of samples, used as it is
        (:func:`gandiag.generators.as_generator`).
    latent : {"normal", "uniform"}, optional
        The latent prior, overriding what the file says (default: the file's, else normal).
    latent_dim : int, optional
        The latent dimension, overriding what the file says.
    reference : str or Reference, optional
        Check that the generator's sample shape fits this reference.
    device : str, default "cpu"
        Torch device the network runs on.
    allow_torchscript : bool, default False
        Load TorchScript archives, which RUNS CODE FROM THE FILE: only for files you trust.
    timeout : float, optional
        Seconds that loading the file, and then each ``sample`` call of the generator, may take
        (default 300; None or 0: no limit); beyond it a :class:`gandiag.timeouts.SourceTimeout`
        names the file. Enforced in the main thread only (:mod:`gandiag.timeouts`).

    Returns
    -------
    Generator or Run
        A generator with ``sample(n, seed)`` (the same seed gives the same samples whatever the
        batch size), or for a folder a :class:`Run` of its checkpoints ordered by step, loaded lazily.

    Raises
    ------
    SourceError
        The file cannot be used (it names the file and says which formats are accepted).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, gandiag
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(folder / "samples.npy", np.zeros((100, 2), np.float32))
    >>> gen = gandiag.load_generator(folder / "samples.npy", reference="ring8")
    >>> tuple(gen.sample(10, seed=0).shape)
    (10, 2)
    """
    check_device(device, "device")
    limit = check_timeout(timeout)
    if not isinstance(source, (str, os.PathLike)):  # a network, callable or samples in memory
        gen = as_generator(source, latent_dim=latent_dim, latent=latent)
        if reference is not None:
            ref = _reference(reference)
            check_output_shape(gen, ref.shape, ref.name)
        return gen
    path = Path(source)
    options = dict(latent=latent, latent_dim=latent_dim, reference=reference, device=device,
                   allow_torchscript=allow_torchscript, timeout=limit)
    if path.is_dir():
        try:
            entries = [p for p in path.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and not p.name.startswith(".")]
        except OSError as exc:
            raise SourceError(path, f"the folder cannot be listed ({exc.strerror or type(exc).__name__})") from exc
        if not entries and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
            return _load_image_samples(path)  # a folder of generated images: samples, like a .npy file
        if not entries:
            raise SourceError(path, "folder holds no checkpoints, programs, sample files or images")
        return Run(path, sorted(entries, key=_run_order), options)
    if not path.exists():
        raise SourceError(path, "a symbolic link that leads nowhere (dangling, or a loop)" if path.is_symlink()
                          else "no such file or folder")
    if not path.is_file():
        raise SourceError(path, "not a regular file (a FIFO, socket or device); gandiag reads files and folders")
    try:
        if allow_torchscript and path.suffix.lower() == ".pt" and limits_available() and is_torchscript(path):
            probe_in_child(JIT_PROBE, [str(path)], limit, path)  # an endless __setstate__ is killed there
        with time_limit(limit, path, "loading"):
            gen = _load_file(path, latent, latent_dim, device, allow_torchscript)
        gen.timeout = limit  # every sample call of the file's code runs within the limit too
        if reference is not None:
            ref = _reference(reference)
            check_output_shape(gen, ref.shape, ref.name)
    except GandiagInputError:
        raise
    except Exception as exc:  # whatever else goes wrong with this file is this file's one-line error
        raise SourceError(path, f"could not be loaded ({type(exc).__name__}: {one_line(exc, 200)})") from exc
    return gen


def _load_file(path: Path, latent: str | None, latent_dim: int | None, device: str,
               allow_torchscript: bool) -> Generator:
    """One generator file, by suffix (:func:`load_generator` has checked that it is a regular file)."""
    suffix = path.suffix.lower()
    if suffix == ".pt2":
        gen = _load_program(path, latent, latent_dim, device)
    elif suffix == ".pt":
        if not is_torchscript(path):
            gen = _load_checkpoint(path, latent, latent_dim, device)
        elif allow_torchscript:
            gen = load_torchscript(path, latent, latent_dim, device)
        else:
            raise SourceError(path, TORCHSCRIPT_REFUSED, hint=TORCHSCRIPT_HINT)
    elif suffix in (".npy", ".npz"):
        gen = (labelled_npz(path) if suffix == ".npz" else None) or _load_samples(path)
    else:
        raise SourceError(path, f"unknown file type {suffix or '(no suffix)'!r}")
    return gen



class Deferred:
    """A checkpoint of a run not loaded yet: :meth:`load` loads it (or raises its :class:`SourceError`)."""

    def __init__(self, run: Run, index: int) -> None:
        self.run, self.index = run, index

    def load(self) -> Generator:
        return self.run.load(self.index)


def iter_sources(
    sources: Sequence[Any], reference: str | Reference | None = None, *, defer: bool = False, **options: Any
) -> tuple[int, Iterator[tuple[str, str, int | None, Generator | SourceError | Deferred]]]:
    """Expand SOURCEs (files and run folders) into one item per checkpoint, loaded lazily.

    With ``defer=True`` a run's checkpoints come as :class:`Deferred` items that the caller
    loads only when it needs them (an audit whose result store already has the row never does).

    A SOURCE that is not a path (a :class:`Generator`, or what :func:`gandiag.generators.as_generator`
    accepts, such as an array of samples) is used as it is, named by its ``source``.

    Returns ``(count, items)``; each item is ``(source, run, step, generator)`` where ``run`` is the
    folder for a checkpoint of a run ("" otherwise) and ``generator`` is the :class:`SourceError`
    that loading raised when a SOURCE or a checkpoint inside a run cannot be used, so that callers
    can record it and go on with the others. When *no* SOURCE can be loaded, the first error is
    raised at once (a mistyped path should not start a progress bar).
    """
    loaded: list[Generator | Run | SourceError] = []
    names: list[str] = []
    for src in sources:
        if not isinstance(src, (str, os.PathLike)):  # a generator or samples in memory
            try:
                gen = as_generator(src, latent_dim=options.get("latent_dim"), latent=options.get("latent"))
                if reference is not None:
                    ref = _reference(reference)
                    check_output_shape(gen, ref.shape, ref.name)
                loaded.append(gen)
            except SourceError as exc:
                loaded.append(exc)
            names.append(getattr(loaded[-1], "source", None) or getattr(loaded[-1], "path", "<memory>"))
            continue
        names.append(str(src))
        try:
            loaded.append(load_generator(src, reference=reference, **options))
        except SourceError as exc:
            loaded.append(exc)
    if loaded and all(isinstance(g, SourceError) for g in loaded):
        raise loaded[0]
    total = sum(len(g) if isinstance(g, Run) else 1 for g in loaded)

    def walk() -> Iterator[tuple[str, str, int | None, Generator | SourceError]]:
        for src, name, gen in zip(sources, names, loaded):
            if isinstance(gen, SourceError):
                yield name, "", step_from_name(Path(name)), gen
            elif not isinstance(gen, Run):
                yield name, "", gen.step, gen
            else:
                for i, (path, step) in enumerate(zip(gen.paths, gen.steps)):
                    if defer:
                        yield str(path), str(src), step, Deferred(gen, i)
                        continue
                    try:
                        item: Generator | SourceError = gen.load(i)
                    except SourceError as exc:  # record it and go on with the rest of the run
                        item = exc
                    yield str(path), str(src), step, item

    return total, walk()
