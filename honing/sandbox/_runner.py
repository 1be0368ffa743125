"""Entry script of the sandbox's child (``python -I -S _runner.py JOB STATUS RESULT``).

Kept tiny because a script is compiled on every start; the work is in ``_child``, whose
byte code is cached. ``-I`` leaves this directory off ``sys.path``; the worker removes it
again before the code runs.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _child  # type: ignore[import-not-found]

_child.main()
