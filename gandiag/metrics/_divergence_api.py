"""Divergence metrics (js, c2st, w1, w2, sliced_w, sinkhorn) re-exported by gandiag.metrics."""

__all__: list[str] = []
