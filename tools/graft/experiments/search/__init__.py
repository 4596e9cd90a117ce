"""``graft exp search``: a seeded Optuna TPE search over params, run by the experiment executors.

One module per job, each importing only those listed before it (no import circle):

* :mod:`.space`: the search space (``--param KEY=SPEC``, ``--space FILE``), checked against the
  params files at the base;
* :mod:`.objectives`: the objectives and constraints of graft.yaml, feasibility, the Pareto front;
* :mod:`.study`: the Optuna storage and study, its name and stored configuration, the driver's lock;
* :mod:`.trials`: rounds of trials asked from the study, run as branchless experiments, told back;
* :mod:`.keep`: the best trials kept as ``exp/NAME-tNNN`` branches;
* :mod:`.run`: :func:`run_search`, every check before the first trial, then the steps above;
* :mod:`.show`: :func:`show`, every trial of a study.

Pruning is not offered: the pipeline's stages report only their final metrics, so there is
nothing to prune on mid-trial. The names below are re-exported for callers of the package;
graft's own modules import each from the module that owns it.
"""

from graft.experiments.search.objectives import Constraint, Goals, Objective, feasible, ranked
from graft.experiments.search.run import SearchResult, run_search
from graft.experiments.search.show import Summary, TrialRow, show
from graft.experiments.search.space import (
    Dimension,
    check_space,
    parse_dimension,
    parse_params,
    parse_space_file,
)
from graft.experiments.search.study import (
    ATTR,
    Config,
    check_study_name,
    default_storage,
    study_file,
    trial_name,
)
from graft.experiments.search.trials import TrialEvent

__all__ = [
    "ATTR",
    "Config",
    "Constraint",
    "Dimension",
    "Goals",
    "Objective",
    "SearchResult",
    "Summary",
    "TrialEvent",
    "TrialRow",
    "check_space",
    "check_study_name",
    "default_storage",
    "feasible",
    "parse_dimension",
    "parse_params",
    "parse_space_file",
    "ranked",
    "run_search",
    "show",
    "study_file",
    "trial_name",
]
