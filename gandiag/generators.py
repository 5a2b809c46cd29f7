"""Generators: anything with ``sample(n, seed) -> torch.Tensor`` (docs/contract.md section 3).

Determinism whatever the batch size
-----------------------------------
CPU matrix products are not bit-identical across batch sizes (a row of a 7-row product can
differ in the last bit from the same row of a 256-row product). So latent codes are drawn in
fixed chunks of ``chunk`` rows, chunk ``c`` from a generator seeded by
``SeedSequence([seed, c])``, and the network always runs on exactly one whole chunk. The
samples therefore depend on ``(seed, index)`` only: ``sample(100, s)`` is bit-identical to
``sample(1000, s)[:100]``, and no caller's batch size enters the computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ._arrays import check_budget, check_samples, one_line
from .errors import GandiagInputError, SourceError
from .timeouts import time_limit

CHUNK = 256
LATENT_DISTRIBUTIONS = ("normal", "uniform")
#: Seeds are integers in [0, MAX_SEED] (63 bits: offsets added to a seed stay within torch's range).
MAX_SEED = 2**63 - 1
#: Device types a generator may run on (each only where torch reports it available).
DEVICE_TYPES = ("cpu", "cuda", "mps")


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (float, np.floating)) and float(value).is_integer()


def check_n(n: Any, name: str = "n") -> int:
    """``n`` as a positive int (the number of samples), or :class:`GandiagInputError` naming ``name``."""
    if not _is_integer(n) or n < 1:
        raise GandiagInputError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an int in [0, MAX_SEED], or :class:`GandiagInputError` naming ``name``."""
    if not _is_integer(seed) or not 0 <= seed <= MAX_SEED:
        raise GandiagInputError(f"{name} must be an integer from 0 to 2**63 - 1, got {seed!r}")
    return int(seed)


def check_device(device: Any, name: str = "device") -> torch.device:
    """``device`` as a :class:`torch.device` this machine has, or :class:`GandiagInputError` naming ``name``.

    cpu always; cuda (or cuda:N) only when torch sees a CUDA device (N below the device count);
    mps only where torch reports it available.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise GandiagInputError(f"{name} {device!r}: not a torch device; use cpu, cuda or cuda:N") from None
    if dev.type not in DEVICE_TYPES:
        raise GandiagInputError(f"{name} {device!r}: gandiag runs generators on {', '.join(DEVICE_TYPES)}, "
                                f"not {dev.type}")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            built = "built without CUDA" if torch.version.cuda is None else "no CUDA device or driver found"
            raise GandiagInputError(f"{name} {device}: CUDA is not available on this machine "
                                    f"(torch {torch.__version__}: {built}); use cpu")
        if dev.index is not None and dev.index >= count:
            raise GandiagInputError(f"{name} {device}: this machine has {count} CUDA device(s), "
                                    f"cuda:0 to cuda:{count - 1}")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise GandiagInputError(f"{name} {device}: MPS is not available on this machine; use cpu")
    return dev


@dataclass(frozen=True)
class LatentSpec:
    """The latent prior: z ~ N(0, I) (``normal``) or U[-1, 1]^dim (``uniform``)."""

    dim: int
    distribution: str = "normal"

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or isinstance(self.dim, bool) or self.dim < 1:
            raise GandiagInputError(f"latent dimension must be a positive integer, got {self.dim!r}")
        if self.distribution not in LATENT_DISTRIBUTIONS:
            raise GandiagInputError(
                f"latent distribution {self.distribution!r} is not one of {', '.join(LATENT_DISTRIBUTIONS)}"
            )

    @classmethod
    def for_file(cls, source: Any, file_dim: int | None, file_distribution: str, latent: str | None,
                 latent_dim: int | None) -> "LatentSpec":
        """The prior of a generator file: the options ``latent``/``latent_dim`` over what the file
        says (``file_dim``, ``file_distribution``); a missing or invalid one is that file's
        :class:`gandiag.errors.SourceError`, with the option to pass."""
        dim = latent_dim if latent_dim is not None else file_dim
        if dim is None:
            raise SourceError(source, "the latent dimension cannot be read from the file",
                              hint="pass latent_dim= (CLI: --latent-dim)")
        try:
            return cls(dim, latent or file_distribution)
        except GandiagInputError as exc:
            raise SourceError(source, str(exc), hint="pass latent_dim= (CLI: --latent-dim) or latent= (--latent)") from None

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` latent codes, float32, shape (n, dim), from ``generator``."""
        if self.distribution == "uniform":
            return torch.rand(n, self.dim, generator=generator) * 2.0 - 1.0
        return torch.randn(n, self.dim, generator=generator)


def chunk_generator(seed: int, chunk_index: int) -> torch.Generator:
    """A torch generator for chunk ``chunk_index`` of the sample stream with seed ``seed``."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, int(chunk_index)]).generate_state(1, np.uint64)
    return torch.Generator().manual_seed(int(state[0]))


class Generator:
    """Base class. ``source`` names where it came from; ``step`` is the training step or None.

    Subclasses implement ``_draw(n, seed, **options)``; :meth:`sample` checks ``n`` and ``seed``
    and passes what ``_draw`` returns through :func:`gandiag._arrays.check_samples` (finite,
    rank 2 or 4, floating, images in [-1, 1]), so no caller ever sees unusable samples.
    ``timeout`` (seconds, None: no limit; set by :func:`gandiag.load_generator` for a file)
    bounds each call of ``_draw`` (:func:`gandiag.timeouts.time_limit`).
    """

    source: str = "<memory>"
    step: int | None = None
    timeout: float | None = None

    def sample(self, n: int, seed: int = 0, **options: Any) -> torch.Tensor:
        """Return ``n`` samples as a float32 CPU tensor, (n, d) or (n, C, H, W)."""
        n, seed = check_n(n), check_seed(seed)
        with time_limit(self.timeout, self.source, f"sampling (n = {n})"):
            x = self._draw(n, seed, **options)
        return check_samples(x, self.source)

    def _draw(self, n: int, seed: int, **options: Any) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(source={self.source!r}, step={self.step})"


class NetworkGenerator(Generator):
    """A network ``fn(z)`` (or ``fn(z, labels)`` when ``n_classes`` is set) over a latent prior.

    Conditional networks get labels drawn uniformly from ``range(n_classes)`` with the same
    chunk generator as z, so that samples follow the label-marginal distribution.
    """

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        latent: LatentSpec,
        *,
        source: str = "<memory>",
        step: int | None = None,
        n_classes: int | None = None,
        chunk: int = CHUNK,
        device: str | torch.device = "cpu",
    ) -> None:
        self.fn = fn
        self.latent = latent
        self.source = source
        self.step = step
        self.n_classes = n_classes
        self.chunk = int(chunk)
        self.device = torch.device(device)

    def sample(self, n: int, seed: int = 0, *, labels: int | None = None) -> torch.Tensor:
        """``n`` samples; with ``labels=c`` a conditional generator draws class ``c`` only."""
        if labels is not None:
            k = self.n_classes or 0
            if isinstance(labels, bool) or not isinstance(labels, (int, np.integer)) or not 0 <= labels < k:
                raise GandiagInputError(f"{self.source}: labels={labels!r} is not a class of this generator "
                                        + (f"(classes 0 to {k - 1})" if k else "(it is not class-conditional)"))
        return super().sample(n, seed, labels=labels)

    def _draw(self, n: int, seed: int, *, labels: int | None = None) -> torch.Tensor:
        out: list[torch.Tensor] = []
        with torch.inference_mode():
            for c in range(-(-n // self.chunk)):
                g = chunk_generator(seed, c)
                z = self.latent.draw(self.chunk, g)
                args = [z.to(self.device)]
                if self.n_classes:
                    y = torch.randint(self.n_classes, (self.chunk,), generator=g)
                    if labels is not None:
                        y = torch.full_like(y, int(labels))
                    args.append(y.to(self.device))
                out.append(self._call(*args))
                if c == 0:  # the first chunk tells the size of one sample: refuse n beyond the budget
                    row = out[0][0]
                    check_budget(n * row.numel() * row.element_size(),
                                 f"n = {n} samples of shape {tuple(row.shape)}", hint="ask for fewer samples (--n)")
        return torch.cat(out)[:n]

    def _call(self, *args: torch.Tensor) -> torch.Tensor:
        try:
            y = self.fn(*args)
        except Exception as exc:
            raise SourceError(
                self.source,
                f"the generator failed on a latent batch of shape {tuple(args[0].shape)} ({type(exc).__name__}: "
                f"{one_line(exc)})",
                hint="check --latent-dim and that the program takes z of shape (batch, latent_dim)",
            ) from exc
        if isinstance(y, (tuple, list)):
            y = y[0]
        if not isinstance(y, torch.Tensor) or y.ndim not in (2, 4) or y.shape[0] != args[0].shape[0]:
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise SourceError(
                self.source,
                f"the generator returned {shape} for a batch of {args[0].shape[0]}",
                hint="a generator must return a tensor of shape (batch, d) or (batch, C, H, W)",
            )
        return y.detach().to("cpu", torch.float32)


class SampleFileGenerator(Generator):
    """Precomputed samples from a ``.npy``/``.npz`` file.

    ``sample(n, seed)`` returns a seeded subset without replacement (so file order, such as
    samples sorted by class, never leaks into the result); asking for more samples than the
    file holds is an error.
    """

    def __init__(self, data: torch.Tensor, *, source: str, step: int | None = None) -> None:
        self.data = data
        self.source = source
        self.step = step

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def _draw(self, n: int, seed: int) -> torch.Tensor:
        if n > len(self):
            raise SourceError(self.source, f"holds {len(self)} samples, {n} were asked for",
                              hint=f"ask for n <= {len(self)}")
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(int(seed)))
        return self.data[perm[:n]]


def check_output_shape(generator: Generator, expected: tuple[int, ...], reference_name: str) -> None:
    """Raise :class:`SourceError` when ``generator``'s samples do not have shape ``expected``."""
    got = tuple(generator.sample(1, seed=0).shape[1:])
    if got != tuple(expected):
        raise SourceError(
            generator.source,
            f"produces samples of shape {got} but reference {reference_name!r} expects {tuple(expected)}",
            hint="score it against a reference of the same shape",
        )


#: What :func:`as_generator` accepts, for its error message.
ACCEPTED = ("a gandiag Generator; a torch.nn.Module z -> x (latent_dim= or an int attribute latent_dim); "
            "a callable z -> x (with latent_dim=); generated samples as a numpy array or torch tensor, "
            "shape (n, d) or (n, C, H, W)")


class _EvalModule:
    """Calls ``module`` in eval mode (BatchNorm, Dropout as at inference) and restores its mode after."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        was_training = self.module.training
        self.module.eval()
        try:
            return self.module(*args)
        finally:
            self.module.train(was_training)


def _latent_dim(obj: Any, latent_dim: int | None) -> int:
    if latent_dim is not None:
        return check_n(latent_dim, "latent_dim")
    dim = getattr(obj, "latent_dim", None)
    if _is_integer(dim) and not isinstance(dim, float) and dim >= 1:
        return int(dim)
    name = type(obj).__name__
    raise GandiagInputError(f"cannot tell the latent dimension of {name}: pass latent_dim=, or give the "
                            f"{'module' if isinstance(obj, torch.nn.Module) else 'callable'} an int attribute latent_dim")


def as_generator(obj: Any, latent_dim: int | None = None, latent: str | None = None) -> Generator:
    """Anything gandiag can score, as a :class:`Generator`.

    * a :class:`Generator`: returned unchanged;
    * a numpy array or torch tensor of generated samples, (n, d) or (n, C, H, W): sampled
      without replacement (:class:`SampleFileGenerator`);
    * a ``torch.nn.Module`` mapping z of shape (batch, latent_dim) to samples: run in eval mode
      (its mode is restored) on the device of its parameters; the latent dimension comes from
      ``latent_dim`` or the module's int attribute ``latent_dim``; conditional modules (an int
      attribute ``n_classes`` > 0) get labels as the checkpoints of the reference trainers do;
    * any other callable ``z -> x``, with ``latent_dim`` (or an int attribute ``latent_dim``).

    ``latent`` is the prior of z: ``"normal"`` (default) or ``"uniform"``. Samples depend on
    ``(seed, index)`` only, exactly as for the same net loaded from a checkpoint or program.
    Anything else raises :class:`GandiagInputError` saying what is accepted and how to wrap it.

    Examples
    --------
    >>> import torch
    >>> gen = as_generator(torch.nn.Linear(3, 2), latent_dim=3)
    >>> tuple(gen.sample(5, seed=0).shape)
    (5, 2)
    >>> as_generator(lambda z: 2 * z, latent_dim=2).sample(4, seed=1).shape[1]
    2
    """
    if isinstance(obj, Generator):
        return obj
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        data = torch.as_tensor(np.asarray(obj, dtype=np.float32)) if isinstance(obj, np.ndarray) else obj.float()
        if data.ndim not in (2, 4):
            raise GandiagInputError(f"samples have shape {tuple(data.shape)}; expected (n, d) or (n, C, H, W)")
        return SampleFileGenerator(data.detach().cpu(), source="<array>")
    if callable(obj):
        spec = LatentSpec(_latent_dim(obj, latent_dim), latent or "normal")
        if isinstance(obj, torch.nn.Module):
            param = next(iter(obj.parameters()), None)
            classes = getattr(obj, "n_classes", None)
            n_classes = int(classes) if _is_integer(classes) and not isinstance(classes, float) and classes > 0 else None
            return NetworkGenerator(_EvalModule(obj), spec, source=f"<{type(obj).__name__}>", n_classes=n_classes,
                                    device=param.device if param is not None else "cpu")
        return NetworkGenerator(obj, spec, source=f"<{getattr(obj, '__name__', type(obj).__name__)}>")
    raise GandiagInputError(
        f"cannot use a {type(obj).__module__}.{type(obj).__qualname__} as a generator or samples; accepted: "
        f"{ACCEPTED}; to wrap anything else, give a function z -> x: "
        f"gandiag.generators.NetworkGenerator(fn, LatentSpec(latent_dim))")
