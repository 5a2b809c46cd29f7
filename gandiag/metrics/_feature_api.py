"""Feature-statistics metrics (fid, kid, prdc, frechet_distance) re-exported by gandiag.metrics."""

__all__: list[str] = []
