"""Statistics for preference data: agreement, leaderboards, label aggregation, transitivity,
listwise rankings (Kendall's W, alpha over ranks, Plackett-Luce), spans (character F1,
unitizing alpha) and style control (Bradley-Terry with style covariates).

Pure numpy/scipy, no Django: arrays in, numbers out.
"""

from annotation.stats.aggregation import (
    DawidSkeneResult,
    TaskLabels,
    dawid_skene,
    majority_vote,
    task_labels,
)
from annotation.stats.agreement import (
    Ratings,
    agreement_report,
    agreement_reports,
    annotator_agreement,
    cohen_kappa_mean,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    majority_agreement,
    percent_agreement,
    reference_agreement,
)
from annotation.stats.consistency import (
    annotator_inconsistencies,
    choice_criteria_conflicts,
    choice_criteria_conflicts_by_annotator,
    cyclic_triads,
    transitivity_global,
    transitivity_items,
    transitivity_per_item,
)
from annotation.stats.listwise import (
    first_shown_first,
    kendall_w,
    mid_ranks,
    plackett_luce,
    rank_alpha,
    ranking_agreement,
    ranking_leaderboards,
)
from annotation.stats.ranking import (
    aggregate_votes,
    elo_ratings,
    fit_bradley_terry,
    leaderboard,
    leaderboard_from_counts,
    win_rate_matrix,
)
from annotation.stats.spans import span_agreement
from annotation.stats.style import (
    STYLE_COVARIATES,
    STYLE_FEATURES,
    style_cells,
    style_covariates,
    style_features,
    style_leaderboard,
)

__all__ = [
    "STYLE_COVARIATES",
    "STYLE_FEATURES",
    "DawidSkeneResult",
    "Ratings",
    "TaskLabels",
    "aggregate_votes",
    "agreement_report",
    "agreement_reports",
    "annotator_agreement",
    "annotator_inconsistencies",
    "choice_criteria_conflicts",
    "choice_criteria_conflicts_by_annotator",
    "cohen_kappa_mean",
    "cyclic_triads",
    "dawid_skene",
    "elo_ratings",
    "first_shown_first",
    "fit_bradley_terry",
    "fleiss_kappa",
    "gwet_ac1",
    "kendall_w",
    "krippendorff_alpha",
    "leaderboard",
    "leaderboard_from_counts",
    "majority_agreement",
    "majority_vote",
    "mid_ranks",
    "percent_agreement",
    "plackett_luce",
    "rank_alpha",
    "ranking_agreement",
    "ranking_leaderboards",
    "reference_agreement",
    "span_agreement",
    "style_cells",
    "style_covariates",
    "style_features",
    "style_leaderboard",
    "task_labels",
    "transitivity_global",
    "transitivity_items",
    "transitivity_per_item",
    "win_rate_matrix",
]
