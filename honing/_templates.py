"""User reflection prompt templates (``ReflectionConfig.reflection_prompt_template``).

Two placeholder conventions are accepted, so templates written for GEPA keep
working:

* honing's: ``{current}`` and ``{feedback}`` (required), ``{objective}``,
  ``{background}``, ``{component}`` (optional), filled with ``str.format``
  (write ``{{`` and ``}}`` for literal braces);
* GEPA's: ``<curr_param>`` and ``<side_info>`` (both required), replaced as
  plain text, so braces need no escaping.

A dict maps component names to templates; a component it does not name is
reflected on with honing's built-in prompt, as GEPA falls back to its default.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

HONING_FIELDS = ("current", "feedback", "objective", "background", "component")
GEPA_PLACEHOLDERS = ("<curr_param>", "<side_info>")
_GEPA_PATTERN = re.compile("|".join(re.escape(p) for p in GEPA_PLACEHOLDERS))


def template_problem(template: Any) -> str | None:
    """Why ``template`` is not usable, or None when it is."""
    if template is None:
        return None
    if isinstance(template, Mapping):
        for name, text in template.items():
            if not isinstance(name, str):
                return f"a dict of templates must be keyed by component name (str), got key {name!r}"
            problem = _single_problem(text)
            if problem is not None:
                return f"the template for component {name!r}: {problem}"
        return None
    return _single_problem(template)


def _single_problem(template: Any) -> str | None:
    if not isinstance(template, str):
        return f"a template must be a str (or a dict of component name -> str), got {type(template).__name__}"
    if any(p in template for p in GEPA_PLACEHOLDERS):
        missing = [p for p in GEPA_PLACEHOLDERS if p not in template]
        return f"a GEPA-style template needs {' and '.join(missing)} as well" if missing else None
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        return f"it is not a valid format string ({exc}); write {{{{ and }}}} for literal braces"
    unknown = sorted(f for f in fields if f.split(".")[0].split("[")[0] not in HONING_FIELDS)
    if unknown:
        return (f"unknown placeholder(s) {', '.join('{' + f + '}' for f in unknown)}; honing fills "
                f"{', '.join('{' + f + '}' for f in HONING_FIELDS)} (write {{{{ and }}}} for literal braces)")
    missing = [f for f in ("current", "feedback") if f not in fields]
    if missing:
        return (f"it lacks {' and '.join('{' + f + '}' for f in missing)}: a template needs {{current}} and "
                "{feedback} (honing's placeholders) or <curr_param> and <side_info> (GEPA's)")
    return None


def render_template(template: Any, *, component: str, current: str, feedback: str, objective: str | None,
                    background: str | None) -> str | None:
    """The prompt text for ``component``, or None when the built-in prompt should be used."""
    if isinstance(template, Mapping):
        template = template.get(component)
    if template is None:
        return None
    if GEPA_PLACEHOLDERS[0] in template:  # one pass, so a placeholder inside the current text stays as it is
        values = dict(zip(GEPA_PLACEHOLDERS, (current, feedback)))
        return _GEPA_PATTERN.sub(lambda match: values[match.group(0)], template)
    return str(template).format(current=current, feedback=feedback, objective=objective or "",
                                background=background or "", component=component)
