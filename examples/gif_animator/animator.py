"""The animator agent: a small model writes ``make_gif(path)``, the sandbox runs it, errors get repaired.

generate -> run -> (repair -> run)* with at most ``max_attempts`` model calls. With LangGraph
installed the loop is a three-node ``StateGraph`` (as in the seed); without it, the same three
functions run in a plain loop. Either way the model's code runs only in ``hn.run_code``'s sandbox,
never in this process; the GIF comes back as bytes and is verified and measured here.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any, TypedDict

import honing as hn

USER_REQUEST = "Write the function. Animation: a red ball bouncing up and down on a white background"

# Appended to the model's code inside the sandbox: render to a file in the throwaway cwd, return its bytes.
HARNESS = '''

def _render_gif():
    make_gif("animation.gif")
    with open("animation.gif", "rb") as f:
        data = f.read()
    if len(data) > 5_000_000:
        raise ValueError(f"the GIF is {len(data) // 1024} KB; far too large")
    return data
'''

ChatModel = Callable[[list[dict]], str]


def extract_code(text: str) -> str:
    """The first fenced code block of a reply (an unclosed fence counts too), else the whole reply."""
    match = re.search(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", text, re.S)
    return (match.group(1) if match else text).strip() + "\n"


def run_code_to_gif(code: str, timeout: float = 60.0) -> tuple[bytes | None, str]:
    """``(gif bytes, "")`` when the code wrote a valid GIF, else ``(None, error text)``."""
    result = hn.run_code(code + HARNESS, "_render_gif", timeout=timeout, memory_mb=1024)
    if not result.ok:
        return None, result.feedback(1200)
    data = result.value
    if not isinstance(data, bytes):
        return None, f"expected GIF bytes, got {type(data).__name__}"
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            if img.format != "GIF":
                return None, f"make_gif wrote a {img.format} file, not a GIF"
            img.verify()
    except Exception as exc:  # a damaged file is the candidate's failure, reported as such
        return None, f"the file is not a readable GIF: {type(exc).__name__}: {exc}"
    return data, ""


class GenState(TypedDict):
    code: str
    error: str
    gif: bytes
    attempts: int


def _nodes(system_prompt: str, llm: ChatModel, max_attempts: int, timeout: float):
    def generate(state: GenState) -> dict:
        reply = llm([{"role": "system", "content": system_prompt}, {"role": "user", "content": USER_REQUEST}])
        return {"code": extract_code(reply), "attempts": state["attempts"] + 1}

    def run(state: GenState) -> dict:
        gif, error = run_code_to_gif(state["code"], timeout)
        return {"gif": gif or b"", "error": error}

    def repair(state: GenState) -> dict:
        reply = llm([
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": f"This code:\n{state['code']}\n\nfailed with:\n{state['error']}\n\n"
                                        "Return the corrected function only."},
        ])
        return {"code": extract_code(reply), "attempts": state["attempts"] + 1}

    def route(state: GenState) -> str:
        return "repair" if state["error"] and state["attempts"] < max_attempts else "end"

    return generate, run, repair, route


def _langgraph_app(nodes):
    from langgraph.graph import END, START, StateGraph

    generate, run, repair, route = nodes
    graph = StateGraph(GenState)
    graph.add_node("generate", generate)
    graph.add_node("run", run)
    graph.add_node("repair", repair)
    graph.add_edge(START, "generate")
    graph.add_edge("generate", "run")
    graph.add_conditional_edges("run", route, {"repair": "repair", "end": END})
    graph.add_edge("repair", "run")
    return graph.compile()


def have_langgraph() -> bool:
    try:
        import langgraph.graph  # noqa: F401
    except ImportError:
        return False
    return True


def animate(system_prompt: str, llm: ChatModel, max_attempts: int = 3, timeout: float = 60.0,
            use_langgraph: bool | None = None) -> dict[str, Any]:
    """Run the agent once; returns the final state (``gif`` empty and ``error`` set on failure)."""
    nodes = _nodes(system_prompt, llm, max_attempts, timeout)
    state: GenState = {"code": "", "error": "", "gif": b"", "attempts": 0}
    if use_langgraph is None:
        use_langgraph = have_langgraph()
    if use_langgraph:
        return dict(_langgraph_app(nodes).invoke(state))
    generate, run, repair, route = nodes
    state.update(generate(state))
    state.update(run(state))
    while route(state) == "repair":
        state.update(repair(state))
        state.update(run(state))
    return dict(state)
