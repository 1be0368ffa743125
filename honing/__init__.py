"""honing: optimize any text artifact with LLM reflection on rich evaluation feedback.

    import honing as hn
    result = hn.optimize_anything(seed_candidate="...", evaluator=my_eval,
                                  config=hn.Config(engine=hn.EngineConfig(max_metric_calls=100)))
    result.best_candidate, result.best_score
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._api import Candidate, Evaluator, SideInfo, make_litellm_lm, optimize_anything
from ._callbacks import CallbackError
from ._config import (
    Config,
    ConfigError,
    EngineConfig,
    GEPAConfig,
    MergeConfig,
    RefinerConfig,
    ReflectionConfig,
    TrackingConfig,
)
from ._errors import HoningError
from ._estimate import RunEstimate, estimate_run
from ._evaluation import EvaluatorError, EvaluatorSignatureError, OptimizationState
from ._gepa_view import GEPAState
from ._image import Image
from ._lazy import lazy_exports
from ._log import LogContext, get_log_context, log, set_log_context
from ._records import CandidateRecord, EvaluationRecord, ProposalRecord
from ._refiner import DEFAULT_REFINER_PROMPT
from ._result import GEPAResult, Result
from ._stopping import (
    CostCeiling,
    MaxProposals,
    NoImprovement,
    RunStatus,
    ScoreThreshold,
    StopFile,
    Timeout,
)
from .llm import LM, Completion, LMError
from .store import (
    EvaluatorChangedError,
    MemoryStore,
    Store,
    StoreDamagedError,
    StoreError,
    StoreFullError,
    StoreInUseError,
    StoreMismatchError,
    StoreReadOnlyError,
)

if TYPE_CHECKING:
    from .llm import LocalLM, lm
    from .sandbox import ExecutionResult, run_code

__version__ = "0.1.0"

# Names whose modules a run with a callable LM does not need (the embedded model's runtime, LM resolution with
# its HTTP clients, the sandbox): imported on first use, so ``import honing`` stays cheap.
_LAZY = {"LocalLM": "honing.llm", "lm": "honing.llm", "ExecutionResult": "honing.sandbox",
         "run_code": "honing.sandbox"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

__all__ = [
    "CallbackError",
    "Candidate",
    "CandidateRecord",
    "Completion",
    "Config",
    "ConfigError",
    "CostCeiling",
    "DEFAULT_REFINER_PROMPT",
    "EngineConfig",
    "EvaluationRecord",
    "Evaluator",
    "EvaluatorChangedError",
    "EvaluatorError",
    "EvaluatorSignatureError",
    "ExecutionResult",
    "GEPAConfig",
    "GEPAResult",
    "GEPAState",
    "HoningError",
    "Image",
    "LM",
    "LMError",
    "LocalLM",
    "LogContext",
    "MaxProposals",
    "MemoryStore",
    "MergeConfig",
    "NoImprovement",
    "OptimizationState",
    "ProposalRecord",
    "RunEstimate",
    "ReflectionConfig",
    "RefinerConfig",
    "Result",
    "RunStatus",
    "ScoreThreshold",
    "SideInfo",
    "StopFile",
    "Store",
    "StoreDamagedError",
    "StoreError",
    "StoreFullError",
    "StoreInUseError",
    "StoreMismatchError",
    "StoreReadOnlyError",
    "Timeout",
    "TrackingConfig",
    "estimate_run",
    "get_log_context",
    "lm",
    "log",
    "make_litellm_lm",
    "optimize_anything",
    "run_code",
    "set_log_context",
]
