"""Every metric as a plain function on two sample (or feature) arrays, real first.

Inputs are numpy arrays or torch tensors of shape (n, d); each function returns a Python
float (or a dict of floats). CONTRACT.md sections 5 and 8.
"""

from ._divergence_api import *  # noqa: F401,F403  (JS, Wasserstein, Sinkhorn: divergences issue)
from ._divergence_api import __all__ as _divergence_all
from ._feature_api import *  # noqa: F401,F403  (FID, KID, PRDC: feature-statistics issue)
from ._feature_api import __all__ as _feature_all

__all__ = [*_divergence_all, *_feature_all]
