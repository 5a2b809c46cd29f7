"""Train gandiag's digits classifier reproducibly (shipped as gandiag/data/digits_classifier.pt).

    python -m reference_models.train_digits --out gandiag/data/digits_classifier.pt

Data: scikit-learn's bundled digits (1797 images, no download), scaled to [-1, 1] as
``gandiag.reference('digits')``; every fifth image (index % 5 == 4, 359 images) is held out and
never trained on. Training: Adam (lr 1e-3), batches of 64, ``--epochs`` epochs, random shifts of
up to one pixel as augmentation, and *outlier exposure* (Hendrycks et al. 2019): each batch also
carries as many non-digits (uniform noise, blurred noise, 50/50 blends of two digits of different
classes) whose target is the uniform distribution over classes, so that the high-quality test
(max softmax >= 0.9) rejects them. One CPU thread, seeded, deterministic algorithms: the same
command on the same software gives the same file.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gandiag.atomic import atomic_path
from gandiag.digits_classifier import HQ_THRESHOLD, DigitsNet, held_out_mask


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from gandiag.references import reference

    ref = reference("digits")
    return ref.data, ref.labels


def _shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Shift each image by (dy, dx) in {-1, 0, 1}^2, filling with background (-1)."""
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)
    off = torch.randint(0, 3, (len(x), 2), generator=g)
    rows = (off[:, 0, None] + torch.arange(8))[:, :, None].expand(-1, 8, 8)
    cols = (off[:, 1, None] + torch.arange(8))[:, None, :].expand(-1, 8, 8)
    idx = torch.arange(len(x))[:, None, None]
    return padded[idx, 0, rows, cols][:, None]


def _outliers(x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """As many non-digit images as ``x``: noise, blurred noise and blends of two classes."""
    n = len(x)
    noise = torch.rand(n, 1, 8, 8, generator=g) * 2 - 1
    blurred = F.avg_pool2d(noise, 3, stride=1, padding=1, count_include_pad=False)
    blurred = blurred / blurred.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    partner = torch.randperm(n, generator=g)
    blend = 0.5 * (x + x[partner])
    kind = torch.randint(0, 3, (n,), generator=g)
    out = torch.where((kind == 0)[:, None, None, None], noise, blurred)
    use_blend = (kind == 2) & (y != y[partner])
    return torch.where(use_blend[:, None, None, None], blend, out)


def accuracy(net: DigitsNet, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((net(x).argmax(1) == y).double().mean())


def hq_fraction(net: DigitsNet, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((torch.softmax(net(x).double(), 1).amax(1) >= HQ_THRESHOLD).double().mean())


def train(epochs: int = 60, seed: int = 0) -> tuple[DigitsNet, dict]:
    """Train the classifier; returns the net and its metadata (accuracies, hq fractions)."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    images, labels = _digits()
    held = torch.from_numpy(held_out_mask(len(images)))
    x_tr, y_tr, x_te, y_te = images[~held], labels[~held], images[held], labels[held]
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x_tr), generator=g)
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            xb, yb = _shift(x_tr[idx], g), y_tr[idx]
            logits = net(torch.cat([xb, _outliers(xb, yb, g)]))
            loss_in = F.cross_entropy(logits[: len(xb)], yb)
            loss_out = -F.log_softmax(logits[len(xb) :], dim=1).mean()  # cross-entropy to uniform
            opt.zero_grad()
            (loss_in + 0.5 * loss_out).backward()
            opt.step()
    net.eval()
    g_test = torch.Generator().manual_seed(seed + 1)
    meta = {
        "format": 1,
        "seed": seed,
        "epochs": epochs,
        "hq_threshold": HQ_THRESHOLD,
        "held_out_accuracy": accuracy(net, x_te, y_te),
        "train_accuracy": accuracy(net, x_tr, y_tr),
        "held_out_hq_fraction": hq_fraction(net, x_te),
        "all_hq_fraction": hq_fraction(net, images),
        "noise_hq_fraction": hq_fraction(net, torch.rand(2000, 1, 8, 8, generator=g_test) * 2 - 1),
    }
    return net, meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_models.train_digits", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where to write the weights (.pt)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    net, meta = train(args.epochs, args.seed)
    buffer = io.BytesIO()  # not saved to the temp path directly: its name would enter the archive
    torch.save({"state_dict": net.state_dict(), **meta}, buffer)
    with atomic_path(args.out) as tmp:
        tmp.write_bytes(buffer.getvalue())
        tmp.chmod(0o644)  # package data: readable by all (the temp file is created 0600)
    for key, value in meta.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
