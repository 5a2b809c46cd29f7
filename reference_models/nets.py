"""Reference networks, registered in the ``gandiag.architectures`` entry-point group.

* MLP pair for vector data: the WGAN-GP toy setting (Gulrajani et al. 2017, "Improved
  Training of Wasserstein GANs", appendix: 3 hidden layers of 512 units with ReLU, latent 2).
* DCGAN-style pair for (C, 8, 8) images (Radford et al. 2016): transposed convolutions in G,
  strided convolutions in D, BatchNorm in G and optionally in D (never in a WGAN-GP critic,
  whose per-sample gradient penalty BatchNorm would break).
* Conditional variants (``n_classes > 0``): the class label is embedded and fed to both nets
  (concatenated to z in G; as an extra input plane in the conv D, concatenated to x in the MLP D).
* PacGAN's 2-D pair (Lin et al. 2018, code ``synthetic_data_experiments``): the MLP generator with
  BatchNorm before each ReLU (``batchnorm=True``), the MLP discriminator with maxout units
  (``maxout=5`` pieces), and :class:`Packed`, which shows the discriminator m samples at once.

Every net keeps its constructor arguments, so a checkpoint stores ``name`` + ``kwargs``.
Generators take ``forward(z)`` or ``forward(z, labels)`` and expose ``latent_dim`` and
``n_classes``; discriminators return one logit (or critic value) per sample.
"""

from __future__ import annotations

import torch
from torch import nn

from gandiag.errors import GandiagInputError


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al. 2013): h_j = max_k (W x + b)_{j,k}, k = 1..pieces."""

    def __init__(self, in_dim: int, out_dim: int, pieces: int) -> None:
        super().__init__()
        self.out_dim, self.pieces = int(out_dim), int(pieces)
        self.linear = nn.Linear(in_dim, self.out_dim * self.pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(-1, self.out_dim, self.pieces).amax(2)


def _mlp(sizes: list[int], *, batchnorm: bool = False, maxout: int = 1) -> nn.Sequential:
    """Hidden layers Linear -> [BatchNorm1d] -> ReLU (or Maxout(pieces) when ``maxout > 1``); linear output."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        if i < len(sizes) - 2 and maxout > 1:
            layers.append(Maxout(sizes[i], sizes[i + 1], maxout))
            continue
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.extend([nn.BatchNorm1d(sizes[i + 1])] if batchnorm else [])
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _Conditioned(nn.Module):
    """Shared label handling: an embedding when ``n_classes > 0``."""

    def _init_labels(self, n_classes: int, embed_dim: int) -> None:
        self.n_classes = int(n_classes)
        self.embed = nn.Embedding(self.n_classes, embed_dim) if self.n_classes else None

    def _label_features(self, labels: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if self.embed is None:
            return None
        if labels is None:
            raise ValueError(f"{type(self).__name__} is conditional: pass labels of shape ({batch},)")
        return self.embed(labels)


class MLPGenerator(_Conditioned):
    """z (latent_dim) -> depth x [Linear(width), (BatchNorm1d,) ReLU] -> Linear(out_dim); linear output."""

    def __init__(self, latent_dim: int = 2, out_dim: int = 2, width: int = 512, depth: int = 3,
                 n_classes: int = 0, embed_dim: int = 8, batchnorm: bool = False) -> None:
        super().__init__()
        self.latent_dim, self.out_dim = int(latent_dim), int(out_dim)
        self._init_labels(n_classes, embed_dim)
        extra = embed_dim if self.n_classes else 0
        self.net = _mlp([self.latent_dim + extra] + [width] * depth + [self.out_dim], batchnorm=bool(batchnorm))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        e = self._label_features(labels, z.shape[0])
        return self.net(z if e is None else torch.cat([z, e], 1))


class MLPDiscriminator(_Conditioned):
    """x (in_dim) -> depth x [Linear(width), ReLU] (or Maxout) -> Linear(1): a logit or critic value."""

    def __init__(self, in_dim: int = 2, width: int = 512, depth: int = 3, n_classes: int = 0,
                 embed_dim: int = 8, maxout: int = 1) -> None:
        super().__init__()
        self._init_labels(n_classes, embed_dim)
        extra = embed_dim if self.n_classes else 0
        self.net = _mlp([int(in_dim) + extra] + [width] * depth + [1], maxout=int(maxout))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        e = self._label_features(labels, x.shape[0])
        x = x.flatten(1)  # images: one row of pixels
        return self.net(x if e is None else torch.cat([x, e], 1)).squeeze(1)


class ConvTranslator(nn.Module):
    """An image-to-image map (the ``cyclegan-digits`` generators): ``depth`` x [Conv2d 3 x 3 (``width``
    channels), ReLU], then Conv2d 3 x 3 back to ``channels`` and tanh; padding keeps the size. Convolutions act on
    every neighbourhood alike, CycleGAN's inductive bias (Zhu et al. 2017) that keeps an image's layout."""

    def __init__(self, channels: int = 1, width: int = 16, depth: int = 2, size: int = 8) -> None:
        super().__init__()
        self.channels, self.size = int(channels), int(size)
        self.latent_dim = self.channels * self.size * self.size  # the input: one image
        layers: list[nn.Module] = []
        c = self.channels
        for _ in range(int(depth)):
            layers += [nn.Conv2d(c, int(width), 3, padding=1), nn.ReLU()]
            c = int(width)
        layers += [nn.Conv2d(c, self.channels, 3, padding=1), nn.Tanh()]  # pixels in [-1, 1], as CycleGAN's
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, self.channels, self.size, self.size))


class DCGANGenerator(_Conditioned):
    """z -> Linear -> (2w, 2, 2) -> ConvT -> (w, 4, 4) -> ConvT -> (C, 8, 8), tanh output in [-1, 1]."""

    def __init__(self, latent_dim: int = 32, channels: int = 1, width: int = 64, n_classes: int = 0,
                 embed_dim: int = 16) -> None:
        super().__init__()
        self.latent_dim, self.channels, self.width = int(latent_dim), int(channels), int(width)
        self._init_labels(n_classes, embed_dim)
        extra = embed_dim if self.n_classes else 0
        self.project = nn.Sequential(nn.Linear(self.latent_dim + extra, 2 * width * 4), nn.BatchNorm1d(2 * width * 4), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, self.channels, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        e = self._label_features(labels, z.shape[0])
        h = self.project(z if e is None else torch.cat([z, e], 1))
        return self.deconv(h.view(-1, 2 * self.width, 2, 2))


class DCGANDiscriminator(_Conditioned):
    """(C, 8, 8) -> Conv s2 -> (w, 4, 4) -> Conv s2 -> (2w, 2, 2) -> Linear(1); LeakyReLU(0.2)."""

    def __init__(self, channels: int = 1, width: int = 64, batchnorm: bool = True, n_classes: int = 0) -> None:
        super().__init__()
        self._init_labels(n_classes, 64)  # the embedding is one 8x8 plane
        extra = 1 if self.n_classes else 0
        norm = nn.BatchNorm2d(2 * width) if batchnorm else nn.Identity()
        self.conv = nn.Sequential(
            nn.Conv2d(int(channels) + extra, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), norm, nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(2 * width * 4, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        e = self._label_features(labels, x.shape[0])
        if e is not None:
            x = torch.cat([x, e.view(-1, 1, 8, 8)], 1)
        return self.head(self.conv(x).flatten(1)).squeeze(1)


class Packed(nn.Module):
    """PacGAN's packed discriminator (Lin et al. 2018, section 3): D sees m samples as one input.

    A batch (b, d) becomes (b/m, m*d), and a batch of images (b, C, H, W) becomes (b/m, m*C, H, W):
    rows ``i*m .. i*m+m-1`` are concatenated (along features, or channels) into packed row i, and
    ``inner`` (built for m times the input width or channels) returns one logit per packed row.
    The samples of a batch are drawn i.i.d., so consecutive rows form i.i.d. m-tuples, as in
    PacGAN's code (``tensor.concatenate(x_tildes, axis=1)`` of m independent generator batches).
    """

    def __init__(self, inner: nn.Module, pack: int) -> None:
        super().__init__()
        self.inner, self.pack = inner, int(pack)

    def packed(self, x: torch.Tensor) -> torch.Tensor:
        """(b, ...) -> (b/m, m * shape[1], ...); a batch not divisible by m raises ``GandiagInputError``."""
        b = x.shape[0]
        if b % self.pack:
            raise GandiagInputError(f"a packed discriminator (pack={self.pack}) needs a batch divisible by "
                                    f"{self.pack}, got {b}: --set batch_size to a multiple of {self.pack}")
        return x.reshape(b // self.pack, self.pack * x.shape[1], *x.shape[2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(self.packed(x))
