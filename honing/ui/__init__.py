"""Looking at a stored run: ``honing show``, the static HTML report and the live dashboard.

Everything here reads a run through ``honing.store.RunReader`` and never writes
to it, so the viewers can watch a run that another process is writing.

* ``render_show(reader)`` -- the text ``honing show`` prints.
* ``build_report(run_dir, output)`` -- a self-contained HTML file.
* ``Dashboard(run_dir)`` -- a local web server with the same page, live.
"""

from __future__ import annotations

from ._cli import build_report, render_show
from ._server import Dashboard

__all__ = ["Dashboard", "build_report", "render_show"]
