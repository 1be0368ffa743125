"""Run generated code under limits and get a result object back, never an exception.

See ``docs/sandbox.md`` for the isolation model and its limits.
"""

from ._api import Mode, run_code
from ._result import ExecutionResult, Protection

__all__ = ["ExecutionResult", "Mode", "Protection", "run_code"]
