"""Every metric as a plain function on two sample (or feature) arrays, real first.

Inputs are numpy arrays or torch tensors of shape (n, d); each function returns a Python
float (or a dict of floats). docs/contract.md sections 5 and 8.

Examples
--------
Every point of ``fake`` is ``real``'s moved by (3, 4), so both W1 and sqrt(FID) are 5:

>>> import numpy as np
>>> import torch
>>> from gandiag.metrics import fid, w1
>>> real = np.random.default_rng(0).normal(size=(64, 2))
>>> fake = torch.from_numpy(real + [3.0, 4.0])
>>> round(w1(real, fake), 6), round(fid(real, fake), 6)
(5.0, 25.0)
"""

from ._divergence_api import *  # noqa: F401,F403  (JS, Wasserstein, Sinkhorn: divergences issue)
from ._divergence_api import __all__ as _divergence_all
from ._feature_api import *  # noqa: F401,F403  (FID, KID, PRDC: feature-statistics issue)
from ._feature_api import __all__ as _feature_all

__all__ = [*_divergence_all, *_feature_all]
