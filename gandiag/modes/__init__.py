"""Mode coverage, NDB and flags: is every mode of the reference there, well spread and sharp?

* :func:`mode_metrics` - ``modes_total``, ``modes_captured``, ``hq_fraction``, ``mode_kl``,
  ``effective_modes``, ``intra_mode_spread`` and per-mode shares (:mod:`.mode_metrics`);
* :class:`NDBBins`, :func:`ndb_test`, :func:`ndb` - k-means bins for references without modes
  and the number of statistically different bins (:mod:`.ndb`);
* :func:`detect_flags`, :class:`FlagThresholds` - ``mode_dropping``, ``mode_collapse``,
  ``low_quality`` and the ``evidence`` line for one checkpoint (:mod:`.flags`);
* :func:`analyze_run`, :class:`RunThresholds` - flag onsets, mode hopping and non-convergence
  over a run (:mod:`.run_findings`).
"""

from .mode_metrics import MODE_COLUMNS, ModeDetails, effective_modes, mode_histogram, mode_kl, mode_metrics, within_mode_std
from .flags import FLAG_COLUMNS, FlagResult, FlagThresholds, detect_flags, dropped_modes, evaluate_flags
from .ndb import NDBBins, NDBResult, ndb, ndb_test
from .run_findings import (
    Convergence,
    Hop,
    RunFindings,
    RunThresholds,
    analyze_run,
    dominant_modes,
    flag_onsets,
    mode_hops,
    non_convergence,
)

__all__ = [
    "FLAG_COLUMNS",
    "MODE_COLUMNS",
    "Convergence",
    "FlagResult",
    "FlagThresholds",
    "Hop",
    "ModeDetails",
    "NDBBins",
    "NDBResult",
    "RunFindings",
    "RunThresholds",
    "analyze_run",
    "detect_flags",
    "dominant_modes",
    "dropped_modes",
    "effective_modes",
    "evaluate_flags",
    "flag_onsets",
    "mode_histogram",
    "mode_hops",
    "mode_kl",
    "mode_metrics",
    "ndb",
    "ndb_test",
    "non_convergence",
    "within_mode_std",
]
