"""Conditional generators as sources: labelled sampling, labelled sample files, two-input programs, translation.

* A *class-conditional* generator has an int ``n_classes`` > 0 and ``sample(n, seed, labels=c)``
  (:class:`gandiag.generators.NetworkGenerator` from a gandiag checkpoint whose architecture kwargs
  hold ``n_classes``, a TorchScript module with an int attribute ``n_classes``, a ``torch.export``
  program whose second input is an integer ``y`` of shape (batch,), or a module in memory).
  :func:`sample_labelled` draws n samples with *balanced* requested labels: class c gets
  n // K (+1 for the first n mod K classes) samples, each class from its own seed
  ``SeedSequence([seed, c])``, then the whole is shuffled with ``seed``; so the samples and their
  labels depend on (seed, n) only, and every class is asked for equally often.
* A labelled sample file is an ``.npz`` with arrays ``samples`` (n, d) or (n, C, H, W) and
  ``labels`` (n,) of integer class indices (optionally ``n_classes``, a scalar):
  :class:`LabelledSampleGenerator`.
* A *translation* generator G: X -> Y takes a sample of a *source* reference instead of z
  (:class:`TranslationGenerator`, ``gen.translate(x)``); its samples are G(x) for
  x = ``source.sample(n, seed + SOURCE_SEED_OFFSET)``, so the inputs are independent of the
  target sample the scorer draws with ``seed``. Without a source it refuses to sample.

Nothing here runs code from a file: sample files load with ``numpy.load(allow_pickle=False)``,
programs through :mod:`gandiag.program_archive`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ._arrays import check_samples, one_line
from .errors import GandiagInputError, SourceError
from .generators import CHUNK, Generator, LatentSpec, NetworkGenerator, SampleFileGenerator, check_n, check_seed
from .references import Reference
from .references import reference as get_reference

__all__ = ["SOURCE_SEED_OFFSET", "LabelledSampleGenerator", "TranslationGenerator", "as_translation", "check_labels",
           "class_seed",
           "conditional_program", "labelled_npz", "translation_checkpoint", "labelled_reference_pair", "n_classes_of", "sample_labelled"]

#: Seed offset of a translation generator's inputs (independent of the target sample drawn with ``seed``).
SOURCE_SEED_OFFSET = 2_000_003
SOURCE_HINT = "give the source reference: --source REF on the command line, source= in Python"


def n_classes_of(gen: Any) -> int | None:
    """The generator's number of classes (an int attribute ``n_classes`` > 0), else ``None``."""
    k = getattr(gen, "n_classes", None)
    return int(k) if isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k > 0 else None


def class_seed(seed: int, c: int) -> int:
    """The seed of class ``c``'s samples within a labelled draw with ``seed``."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, int(c), 0x636C]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def check_labels(labels: Any, n_classes: int, source: Any = "<labels>") -> int:
    """One requested class ``labels`` as an int in [0, n_classes), or a one-line :class:`GandiagInputError`."""
    if isinstance(labels, bool) or not isinstance(labels, (int, np.integer)):
        raise GandiagInputError(f"{source}: labels must be one integer class in [0, {n_classes}), got {labels!r}")
    if not 0 <= labels < n_classes:
        raise GandiagInputError(f"{source}: label {labels} is out of range; this generator has {n_classes} classes "
                                f"(0 to {n_classes - 1})")
    return int(labels)


def sample_labelled(gen: Any, n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """``(samples, requested labels)``: ``n`` samples of a class-conditional generator, balanced labels."""
    n, seed = check_n(n), check_seed(seed)
    if hasattr(gen, "sample_labelled"):
        return gen.sample_labelled(n, seed)
    k = n_classes_of(gen)
    if k is None:
        raise GandiagInputError(f"{getattr(gen, 'source', gen)}: not a class-conditional generator (no n_classes)")
    counts = np.full(k, n // k) + (np.arange(k) < n % k)
    parts = [gen.sample(int(m), seed=class_seed(seed, c), labels=c) for c, m in enumerate(counts) if m]
    x = torch.cat(parts)
    y = np.repeat(np.arange(k), counts)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return x[torch.from_numpy(perm)], y[perm]


def labelled_reference_pair(ref: Reference, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The true classes of the two samples of :func:`gandiag.references.reference_pair` (same seeds).

    A mixture's ``sample(n, seed)`` is ``draw(n, Generator(seed))``, whose second value is the
    component; a stored reference with labels (``digits``) takes the rows of one seeded
    permutation, whose labels are read at the same indices.
    """
    from .references import FLOOR_SEED_OFFSET, stored_samples

    def draw(m: int, s: int) -> np.ndarray:
        labels = ref.draw(m, torch.Generator().manual_seed(int(s)))[1]
        if labels is None:
            raise GandiagInputError(f"reference {ref.name!r} has no class labels")
        return labels.numpy().astype(np.int64)

    if stored_samples(ref) is not None:
        stored = getattr(ref, "labels", None)
        if stored is None:
            raise GandiagInputError(f"reference {ref.name!r} has no class labels; class-conditional metrics need one "
                                    "with labelled classes (ring8, grid25, digits)")
        idx = torch.randperm(len(ref), generator=torch.Generator().manual_seed(int(seed)))[: 2 * n]
        both = stored[idx].numpy().astype(np.int64)
        return both[:n], both[n:]
    return draw(n, seed), draw(n, seed + FLOOR_SEED_OFFSET)


class LabelledSampleGenerator(SampleFileGenerator):
    """Precomputed samples with their requested classes (an ``.npz`` with ``samples`` and ``labels``)."""

    def __init__(self, data: torch.Tensor, labels: np.ndarray, *, n_classes: int | None = None,
                 source: str = "<array>", step: int | None = None) -> None:
        super().__init__(data, source=source, step=step)
        labels = np.asarray(labels)
        if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
            raise SourceError(source, f"labels must be {len(data)} integer class indices, got {labels.dtype} of "
                              f"shape {labels.shape}", hint="save labels as an int array of shape (n,)")
        k = int(labels.max()) + 1 if n_classes is None else int(n_classes)
        if labels.min() < 0 or labels.max() >= k:
            raise SourceError(source, f"labels must be in [0, {k}), found {labels.min()} to {labels.max()}")
        self.labels = labels.astype(np.int64)
        self.n_classes = k

    def _perm(self, seed: int) -> torch.Tensor:
        return torch.randperm(len(self), generator=torch.Generator().manual_seed(int(seed)))

    def sample(self, n: int, seed: int = 0, *, labels: int | None = None) -> torch.Tensor:
        """``n`` samples (seeded subset); with ``labels=c`` only samples labelled ``c``."""
        if labels is None:
            return super().sample(n, seed)
        c = check_labels(labels, self.n_classes, self.source)
        n, seed = check_n(n), check_seed(seed)
        rows = [i for i in self._perm(seed).tolist() if self.labels[i] == c][:n]
        if len(rows) < n:
            raise SourceError(self.source, f"holds {len(rows)} samples of class {c}, {n} were asked for")
        return check_samples(self.data[torch.as_tensor(rows)], self.source)

    def sample_labelled(self, n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """The samples of ``sample(n, seed)`` and their labels."""
        x = self.sample(n, seed)
        return x, self.labels[self._perm(seed)[:n].numpy()]


def labelled_npz(path: Path) -> LabelledSampleGenerator | None:
    """The labelled sample file at ``path``, or ``None`` when the ``.npz`` holds no ``labels`` array."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "labels" not in npz.files:
                return None
            if "samples" not in npz.files:
                raise SourceError(path, f"holds labels but no 'samples' array (arrays: {', '.join(npz.files)})",
                                  hint="save samples= and labels= with numpy.savez")
            samples, labels = npz["samples"], npz["labels"]
            k = int(npz["n_classes"]) if "n_classes" in npz.files else None
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(path, f"not a readable .npz file ({type(exc).__name__}: {one_line(exc, 120)})") from exc
    check_samples(samples, path)
    return LabelledSampleGenerator(torch.as_tensor(np.asarray(samples, dtype=np.float32)), labels, n_classes=k,
                                   source=str(path))


def _extra_n_classes(path: Path) -> int | None:
    """``n_classes`` from the program's extra file (``torch.export.save(..., extra_files={"n_classes": "10"})``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith("extra/n_classes")]
            text = zf.read(names[0]).decode("ascii", "replace").strip() if names else None
    except (zipfile.BadZipFile, OSError):
        return None
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise SourceError(path, f"its extra file n_classes is {text[:20]!r}, not a positive integer")
    return int(text)


def conditional_program(path: Path, program: Any, latent: LatentSpec, device: str, step: int | None) -> NetworkGenerator:
    """A two-input ``torch.export`` program (z of shape (batch, d), integer y of shape (batch,)) as a generator.

    ``n_classes`` comes from the program's extra file ``n_classes``; without it, from the reference
    the generator is scored against (:attr:`needs_classes` is then set).
    """
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    names = list(program.graph_signature.user_inputs)
    val = nodes[names[1]].meta.get("val") if names[1] in nodes else None
    if val is None or len(val.shape) != 1:
        raise SourceError(path, f"its second input has shape {tuple(val.shape) if val is not None else '?'}",
                          hint="a conditional program takes z of shape (batch, latent_dim) and y of shape (batch,)")
    if val.dtype.is_floating_point or val.dtype == torch.bool or val.dtype.is_complex:
        raise SourceError(path, f"its second input y has dtype {str(val.dtype).replace('torch.', '')}, not an integer "
                          "type", hint="export the program with y as integer class indices (torch.long) of shape (batch,)")
    z_val = nodes[names[0]].meta.get("val")
    chunk = z_val.shape[0] if z_val is not None and isinstance(z_val.shape[0], int) else CHUNK
    module = program.module().to(device)
    k = _extra_n_classes(path)
    gen = NetworkGenerator(module, latent, source=str(path), step=step, n_classes=k, chunk=chunk, device=device)
    gen.needs_classes = k is None  # type: ignore[attr-defined]
    return gen


class TranslationGenerator(Generator):
    """G: X -> Y, a network applied to samples of a source reference (module docstring).

    ``target_reference``: the target distribution where the file says it (``None`` otherwise).

    ``fn``: x (batch, *source shape) -> y; ``inverse``: F: Y -> X when known (gives ``cycle_error``);
    ``true_map``: the known correspondence x -> expected G(x) of a toy task, with ``tolerance``
    (gives ``map_accuracy``).
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], *, source_reference: str | Reference | None = None,
                 inverse: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 true_map: Callable[[torch.Tensor], torch.Tensor] | None = None, tolerance: float | None = None,
                 source: str = "<memory>", step: int | None = None, chunk: int = CHUNK) -> None:
        self.fn, self.inverse, self.true_map, self.tolerance = fn, inverse, true_map, tolerance
        self.source_reference = None if source_reference is None else get_reference(source_reference)
        self.source, self.step, self.chunk = source, step, int(chunk)
        self.target_reference: Reference | None = None

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, what: str) -> torch.Tensor:
        out = []
        with torch.inference_mode():
            for start in range(0, len(x), self.chunk):
                try:
                    y = fn(x[start : start + self.chunk])
                except Exception as exc:
                    raise SourceError(self.source, f"the {what} failed on inputs of shape "
                                      f"{tuple(x[start : start + self.chunk].shape)} ({type(exc).__name__}: "
                                      f"{one_line(exc)})", hint="check that --source matches its input") from exc
                y = y[0] if isinstance(y, (tuple, list)) else y
                out.append(y.detach().to("cpu", torch.float32))
        return torch.cat(out)

    def translate(self, x: Any) -> torch.Tensor:
        """G(x) for source samples ``x`` (numpy or torch), in chunks."""
        return self._apply(self.fn, torch.as_tensor(np.asarray(x, dtype=np.float32)), "translation")

    def inverse_translate(self, y: Any) -> torch.Tensor:
        """F(y) with the inverse generator; :class:`GandiagInputError` when none was given."""
        if self.inverse is None:
            raise GandiagInputError(f"{self.source}: no inverse generator; give one with --inverse F (inverse=)")
        return self._apply(self.inverse, torch.as_tensor(np.asarray(y, dtype=np.float32)), "inverse translation")

    def inputs(self, n: int, seed: int) -> torch.Tensor:
        """The source samples behind ``sample(n, seed)``."""
        if self.source_reference is None:
            raise GandiagInputError(f"{self.source}: a translation generator (G: X -> Y) has no latent input; "
                                    f"{SOURCE_HINT}")
        return self.source_reference.sample(n, seed=seed + SOURCE_SEED_OFFSET)

    def _draw(self, n: int, seed: int, **options: Any) -> torch.Tensor:
        return self.translate(self.inputs(n, seed))

    def sample_translated(self, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, G(x))``: the inputs and outputs of ``sample(n, seed)``."""
        x = self.inputs(check_n(n), check_seed(seed))
        return x, check_samples(self.translate(x), self.source)


def _network(obj: Any, what: str) -> tuple[Callable[[torch.Tensor], torch.Tensor], str, int | None]:
    """``(fn, source name, step)`` of a generator, network, callable or path used as a map x -> y."""
    import os

    from .generators import _EvalModule

    if isinstance(obj, (str, os.PathLike)):
        from .loading import load_generator  # same layer; imported here, loading imports this module

        obj = load_generator(obj, latent_dim=1)  # the input size is the program's; latent_dim is not used
    if isinstance(obj, TranslationGenerator):
        return obj.fn, obj.source, obj.step
    if isinstance(obj, NetworkGenerator):
        return obj.fn, obj.source, obj.step
    if isinstance(obj, torch.nn.Module):
        return _EvalModule(obj), f"<{type(obj).__name__}>", None
    if callable(obj):
        return obj, f"<{getattr(obj, '__name__', type(obj).__name__)}>", None
    raise GandiagInputError(f"{what}: cannot use a {type(obj).__name__} as a translation generator; give a .pt2 "
                            "program, a checkpoint, a torch.nn.Module or a callable x -> y")


def as_translation(obj: Any, source: str | Reference | None = None, inverse: Any | None = None) -> TranslationGenerator:
    """``obj`` (a :class:`TranslationGenerator`, a loaded program, a module, a callable or a path) as a
    translation generator from the ``source`` reference, with the ``inverse`` map F where given."""
    fn, name, step = _network(obj, "generator")
    old = obj if isinstance(obj, TranslationGenerator) else None
    inv = _network(inverse, "--inverse")[0] if inverse is not None else (old.inverse if old else None)
    src = source if source is not None else (old.source_reference if old else None)
    return TranslationGenerator(fn, source_reference=src, inverse=inv, true_map=old.true_map if old else None,
                                tolerance=old.tolerance if old else None, source=name, step=step)


def translation_checkpoint(path: Path, ckpt: dict[str, Any], net: torch.nn.Module,
                           build: Callable[[str, dict[str, Any], dict[str, Any]], torch.nn.Module],
                           device: str) -> TranslationGenerator:
    """The translation generator of a gandiag checkpoint with a ``translation`` entry (the cyclegan recipe).

    ``net`` is G (built from ``architecture``/``generator``); ``build(name, kwargs, state)`` builds the
    inverse F from ``translation.inverse``. The source reference is the entry's ``source`` (a
    reference name); ``true_map`` (a d x d matrix M: x -> M x) and ``tolerance`` give map_accuracy;
    ``target`` (mixture centres and std) is kept as :attr:`TranslationGenerator.target_reference`.
    """
    from .references import REFERENCE_NAMES, GaussianMixture

    t = ckpt["translation"]

    def bad(field: str, expected: str) -> SourceError:
        return SourceError(path, f"malformed translation checkpoint: translation.{field} is not {expected}")

    if not isinstance(t, dict):
        raise bad("", "a dict")
    source = t.get("source")
    if source is not None and source not in REFERENCE_NAMES:
        raise bad("source", f"a reference name ({', '.join(REFERENCE_NAMES)})")
    inverse = None
    inv = t.get("inverse")
    if inv is not None:
        if not isinstance(inv, dict) or not isinstance(inv.get("architecture"), dict) or "generator" not in inv:
            raise bad("inverse", "a dict with architecture and generator")
        arch = inv["architecture"]
        inverse = build(str(arch.get("name")), dict(arch.get("kwargs", {})), inv["generator"]).eval().to(device)
    true_map = tolerance = None
    if t.get("true_map") is not None:
        try:
            matrix = torch.as_tensor(np.asarray(t["true_map"], dtype=np.float32))
            tolerance = float(t["tolerance"])
        except (TypeError, ValueError, KeyError):
            raise bad("true_map", "a matrix with a tolerance") from None
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or not tolerance > 0:
            raise bad("true_map", "a square matrix with a positive tolerance")
        def true_map(x: Any) -> torch.Tensor:  # x -> M x on each flattened sample (images keep their shape)
            x = torch.as_tensor(x, dtype=torch.float32)
            return (x.flatten(1) @ matrix.T).reshape(x.shape)
    gen = TranslationGenerator(net.eval().to(device), source_reference=source, inverse=inverse, true_map=true_map,
                               tolerance=tolerance, source=str(path), step=ckpt["step"])
    target = t.get("target")
    if isinstance(target, dict) and "centres" in target and "std" in target:
        gen.target_reference = GaussianMixture(str(target.get("name", "target")), target["centres"], float(target["std"]))
    return gen
