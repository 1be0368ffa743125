"""GIF animator example: the GIF scorer on synthetic GIFs, the repair loop, and a scripted run."""

from __future__ import annotations

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

pytest.importorskip("PIL")
pytest.importorskip("numpy")

from PIL import Image, ImageDraw  # noqa: E402

from examples.gif_animator import animator, gif_score, main  # noqa: E402
from tests.conftest import ScriptedLM, fenced  # noqa: E402


def ball_gif(frames: int = 24, duration: int = 42, loop: bool = True, size: int = 120) -> bytes:
    images = []
    for i in range(frames):
        # A constant-speed bounce (triangle wave); loop=False stops half-way, far from the start.
        phase = i / frames if loop else i / (2 * frames)
        y = 20 + (size - 40) * 2 * abs(phase - 0.5)
        img = Image.new("RGB", (size, size), "white")
        ImageDraw.Draw(img).ellipse((size / 2 - 12, y - 12, size / 2 + 12, y + 12), fill="red")
        images.append(img)
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
    return buf.getvalue()


def score(gif: bytes) -> tuple[float, dict]:
    return gif_score.score_metrics(gif_score.measure(gif))


def test_perfect_loop_scores_high():
    value, info = score(ball_gif())
    assert info["frames"] == 24 and info["moving"]
    assert info["loop_ratio"] <= 1.05
    assert value >= 0.95


def test_static_image_scores_low():
    buf = io.BytesIO()
    Image.new("RGB", (100, 100), "white").save(buf, format="GIF")
    value, info = score(buf.getvalue())
    assert info["frames"] == 1 and not info["moving"]
    assert value <= 0.2


def test_broken_loop_wrong_count_and_slow_playback_cost_points():
    perfect, _ = score(ball_gif())
    seam, seam_info = score(ball_gif(loop=False))
    assert seam_info["loop_ratio"] > 2 and seam < perfect
    few, few_info = score(ball_gif(frames=8, duration=125))
    assert few_info["frames"] == 8 and few < perfect
    slow, slow_info = score(ball_gif(duration=200))
    assert slow_info["playback_ms"] == 24 * 200 and slow_info["play_score"] == 0.0 and slow < perfect


def test_failure_scores_zero():
    assert gif_score.score_metrics({"ok": False, "error": "boom", "attempts": 3})[0] == 0.0


GOOD_CODE = '''import math
from PIL import Image, ImageDraw


def make_gif(path):
    frames = []
    for i in range(24):
        y = 20 + 80 * abs(2 * i / 24 - 1)  # constant-speed bounce
        img = Image.new("RGB", (120, 120), "white")
        ImageDraw.Draw(img).ellipse((48, y - 12, 72, y + 12), fill="red")
        frames.append(img)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=42, loop=0)
'''


def test_extract_code():
    assert animator.extract_code("text\n```python\nx = 1\n```\nmore") == "x = 1\n"
    assert animator.extract_code("```\ny = 2\n") == "y = 2\n"  # cut off before the closing fence
    assert animator.extract_code("z = 3") == "z = 3\n"


def test_agent_repairs_failing_code_in_the_sandbox():
    replies = iter(["```python\ndef make_gif(path):\n    raise ValueError('oops')\n```", fenced(GOOD_CODE)])
    seen = []

    def llm(messages):
        seen.append(messages)
        return next(replies)

    final = animator.animate("prompt", llm, use_langgraph=False)
    assert final["attempts"] == 2 and final["error"] == ""
    assert "oops" in seen[1][-1]["content"]  # the repair request carries the error
    value, info = gif_score.score_metrics(gif_score.measure(final["gif"]))
    assert value >= 0.95


def test_agent_gives_up_after_three_attempts():
    final = animator.animate("prompt", lambda m: "print('no function here')", use_langgraph=False)
    assert final["attempts"] == 3 and final["gif"] == b"" and "make_gif" in final["error"]


def test_non_gif_output_is_rejected():
    png = GOOD_CODE.replace("frames[0].save(path,", "frames[0].save(path, format='PNG',")
    gif, error = animator.run_code_to_gif(png)
    assert gif is None and "PNG" in error


BETTER_PROMPT = main.SEED_PROMPT + " Use exactly 24 frames of 42 ms and end where you start."


class TaskModel:
    """Writes the good GIF only for the improved prompt; a single static frame otherwise."""

    def __init__(self):
        self.calls = 0

    def __call__(self, messages):
        self.calls += 1
        if "24 frames" in messages[0]["content"]:
            return fenced(GOOD_CODE)
        return fenced("from PIL import Image\n\ndef make_gif(path):\n"
                      "    Image.new('RGB', (50, 50), 'white').save(path, format='GIF')\n")


@pytest.mark.filterwarnings("ignore:max_metric_calls")
def test_scripted_run_smoke(tmp_path):
    task = TaskModel()
    lm = ScriptedLM(lambda prompt: fenced(BETTER_PROMPT))
    out = main.run(budget=2, reflection_lm=lm, task_lm=task, verbose=False, run_dir=str(tmp_path / "run"))
    assert task.calls == 4  # two samples for the seed, two for the proposal
    assert out["baseline"] < 0.3 and out["optimized"] >= 0.95
    assert out["best_candidate"] == BETTER_PROMPT
    assert "score=" in lm.prompt_texts[0] and "frames" in lm.prompt_texts[0]


def test_langgraph_loop_matches_the_plain_loop():
    pytest.importorskip("langgraph")
    replies = iter(["```python\ndef make_gif(path):\n    raise ValueError('oops')\n```", fenced(GOOD_CODE)])
    final = animator.animate("prompt", lambda messages: next(replies), use_langgraph=True)
    assert final["attempts"] == 2 and final["error"] == "" and final["gif"][:3] == b"GIF"
