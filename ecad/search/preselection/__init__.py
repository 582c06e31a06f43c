"""Pre-selection (issue 28): NSGA-II proposes more offspring than are evaluated; a quality
predictor fitted on the search's stored evaluations ranks them with their exact cost, and only
the chosen ones cost images. Config: :mod:`.config`; predictor: :mod:`.predictor`; the choice:
:mod:`.choose`; training rows: :mod:`.history`; the stored record: :mod:`.record`; the two
points where a generation uses it: :mod:`.generation`."""

from ecad.search.preselection.choose import Choice, choose, hypervolume_gain
from ecad.search.preselection.config import PreselectionConfig, parse_preselection
from ecad.search.preselection.predictor import QualityPredictor, genome_features
from ecad.search.preselection.record import (
    Outcome,
    PredictorInfo,
    PreselectionRecord,
    SourceInfo,
)

__all__ = [
    "Choice",
    "Outcome",
    "PredictorInfo",
    "PreselectionConfig",
    "PreselectionRecord",
    "QualityPredictor",
    "SourceInfo",
    "choose",
    "genome_features",
    "hypervolume_gain",
    "parse_preselection",
]
