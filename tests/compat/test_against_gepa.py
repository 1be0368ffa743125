"""The same GEPA 0.1.4 program, run on GEPA and on honing, gives equivalent results.

Each program below is written for GEPA's ``optimize_anything`` and differs
only in its import line. It runs twice in fresh interpreters: once with GEPA
0.1.4 from the bench venv (``bench/setup_gepa_venv.sh`` creates it; CI does),
once with this checkout's honing. The reflection LM is a deterministic script
(it reads the version number ``vN`` of the candidate in its prompt), so both
libraries walk the same path: the same best candidate, the same scores, the
same evaluator calls.

GEPA's ``total_metric_calls`` also counts evaluations it served from its cache
(a parent is re-scored on every minibatch); honing's counts evaluator calls
only. So the programs count the evaluator's calls themselves and turn GEPA's
evaluation cache on (``cache_evaluation=True``, honing's default), under
which both call the evaluator exactly as often. They stop on a proposal count
(``max_candidate_proposals``), which GEPA honours exactly, rather than on a
budget GEPA may overshoot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GEPA_PYTHON = Path(os.environ.get("GEPA_VENV", REPO / ".bench-venv" / "gepa")) / "bin" / "python"

pytestmark = pytest.mark.skipif(
    not GEPA_PYTHON.exists(),
    reason=f"GEPA 0.1.4 is not installed at {GEPA_PYTHON.parent.parent} (run bench/setup_gepa_venv.sh)",
)

PRELUDE = '''
import json, re, sys, threading
OUT = sys.argv[1]
calls = []
_lock = threading.Lock()
_replies = [0]

def version(text):
    return max(int(v) for v in re.findall(r"v(\\d+)", text))

def scripted_lm(prompt):
    """Proposes the next version; every third reply is a worse one, which both libraries reject."""
    text = prompt if isinstance(prompt, str) else json.dumps(prompt)
    _replies[0] += 1
    return "```\\nv0\\n```" if _replies[0] % 3 == 0 else f"```\\nv{version(text) + 1}\\n```"

def record(*what):
    with _lock:
        calls.append(list(what))

def finish(result, **extra):
    data = {"best": result.best_candidate, "calls": len(calls), "lm_calls": _replies[0],
            "pairs": sorted({json.dumps(c, sort_keys=True) for c in calls}),
            "num_candidates": result.num_candidates, "best_idx": result.best_idx,
            "val_aggregate_scores": result.val_aggregate_scores,
            "val_subscores": [{str(k): v for k, v in s.items()} for s in result.val_subscores],
            "per_val_instance_best_candidates": {str(k): sorted(v) for k, v in
                                                 result.per_val_instance_best_candidates.items()},
            "num_val_instances": result.num_val_instances,
            "parents": [[p for p in ps if p is not None] for ps in result.parents], **extra}
    with open(OUT, "w") as handle:
        json.dump(data, handle)
'''


def run_both(tmp_path: Path, program: str) -> tuple[dict, dict]:
    """Run ``program`` with GEPA's import line and with honing's; return what each wrote."""
    body = textwrap.dedent(program)
    results = []
    for name, python, imports in (
        ("gepa", str(GEPA_PYTHON), "import gepa.optimize_anything as oa\nfrom gepa.optimize_anything import *\n"),
        ("honing", sys.executable, "import honing as oa\nfrom honing import *\n"),
    ):
        work = tmp_path / name
        work.mkdir()
        script = work / "program.py"
        script.write_text(imports + PRELUDE + body)
        out = work / "out.json"
        env = {**os.environ, "PYTHONPATH": str(REPO) if name == "honing" else ""}
        done = subprocess.run([python, str(script), str(out)], cwd=work, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, f"{name} failed:\n{done.stderr[-3000:]}"
        results.append(json.loads(out.read_text()))
    return results[0], results[1]


def same_search(theirs: dict, ours: dict, *, same_calls: bool = True) -> None:
    """The same path: candidates, scores, fronts and lineage; the same (candidate, example) pairs evaluated."""
    keys = ["best", "pairs", "lm_calls", "num_candidates", "best_idx", "val_subscores",
            "per_val_instance_best_candidates", "num_val_instances", "parents"] + (["calls"] if same_calls else [])
    for key in keys:
        assert theirs[key] == ours[key], (key, theirs[key], ours[key])
    assert theirs["val_aggregate_scores"] == pytest.approx(ours["val_aggregate_scores"])


def test_multi_task_with_a_keyword_example_and_rejections(tmp_path):
    theirs, ours = run_both(tmp_path, '''
        def evaluate(candidate, example):
            record(candidate, example)
            return min(version(candidate), 10) / 10 + example / 100, {"feedback": f"raise the version ({example})"}

        result = optimize_anything(
            seed_candidate="v1", evaluator=evaluate, dataset=[1, 2, 3],
            config=GEPAConfig(engine=EngineConfig(max_metric_calls=1000, max_candidate_proposals=6,
                                                  cache_evaluation=True, parallel=False),
                              reflection=ReflectionConfig(reflection_lm=scripted_lm, reflection_minibatch_size=3)))
        finish(result)
    ''')
    same_search(theirs, ours)
    assert ours["best"] == "v5" and ours["calls"] == 3 + 5 * 3  # the second 'v0' is a repeat: not re-scored


def test_single_task_dict_seed_with_opt_state(tmp_path):
    theirs, ours = run_both(tmp_path, '''
        def evaluate(candidate, opt_state: OptimizationState):
            best = opt_state.best_example_evals[0]["score"] if opt_state.best_example_evals else None
            record(candidate["prompt"], best)
            return min(version(candidate["prompt"]), 10) / 10, {"best_so_far": best}

        result = optimize_anything(
            seed_candidate={"prompt": "v1"}, evaluator=evaluate,
            config=GEPAConfig(engine=EngineConfig(max_metric_calls=1000, max_candidate_proposals=5,
                                                  cache_evaluation=True, parallel=False),
                              reflection=ReflectionConfig(reflection_lm=scripted_lm)))
        finish(result, seen=sorted(calls, key=json.dumps))
    ''')
    same_search(theirs, ours)
    assert theirs["seen"] == ours["seen"]  # the best score so far, as each call's opt_state showed it
    assert ours["best"] == {"prompt": "v5"}


def test_generalization_with_dict_configs_callbacks_and_a_gepa_stopper(tmp_path):
    # GEPA's evaluation cache is off here: GEPA 0.1.4 keys it by an example's position, so with a separate valset
    # it takes validation scores from the training examples at the same positions. Without the cache GEPA scores
    # each parent again on every minibatch, so only the distinct (candidate, example) pairs can be compared.
    theirs, ours = run_both(tmp_path, '''
        class Counter:
            def __init__(self):
                self.events = {}

            def _count(self, name):
                self.events[name] = self.events.get(name, 0) + 1

            def on_candidate_accepted(self, event):
                self._count("accepted")
                assert event["new_candidate_idx"] >= 1

            def on_candidate_rejected(self, event):
                self._count("rejected")

            def on_iteration_end(self, event):
                self._count("iterations")

            def on_valset_evaluated(self, event):
                self._count("valset")

        def four_iterations(state):
            return state.i >= 3

        def evaluate(candidate, example):
            record(candidate, example)
            return (version(candidate) % 7) / 7 * example["weight"], {"input": example["name"]}

        counter = Counter()
        config = GEPAConfig.from_dict({
            "engine": {"max_metric_calls": 1000, "cache_evaluation": False, "parallel": False},
            "reflection": {"reflection_lm": scripted_lm, "reflection_minibatch_size": 2},
            "callbacks": [counter], "stop_callbacks": [four_iterations]})
        train = [{"name": "a", "weight": 1.0}, {"name": "b", "weight": 0.5}]
        val = [{"name": "c", "weight": 0.25}, {"name": "d", "weight": 1.0}, {"name": "e", "weight": 0.5}]
        result = optimize_anything(seed_candidate="v2", evaluator=evaluate, dataset=train, valset=val,
                                   config=config)
        finish(result, events=counter.events)
    ''')
    same_search(theirs, ours, same_calls=False)
    assert theirs["calls"] > ours["calls"] == len(ours["pairs"])
    assert theirs["events"] == ours["events"]
    assert ours["events"]["iterations"] == 4 and ours["num_val_instances"] == 3


def test_boolean_scores_count_as_numbers(tmp_path):
    theirs, ours = run_both(tmp_path, '''
        def evaluate(candidate, example):
            record(candidate, example)
            return version(candidate) >= example

        result = optimize_anything(
            seed_candidate="v1", evaluator=evaluate, dataset=[1, 2, 3, 4],
            config=GEPAConfig(engine=EngineConfig(max_metric_calls=1000, max_candidate_proposals=3,
                                                  cache_evaluation=True, parallel=False),
                              reflection=ReflectionConfig(reflection_lm=scripted_lm, reflection_minibatch_size=4)))
        finish(result)
    ''')
    same_search(theirs, ours)
    assert ours["val_aggregate_scores"][0] == 0.25


def test_images_built_the_gepa_way(tmp_path):
    theirs, ours = run_both(tmp_path, '''
        import base64
        PIXEL = base64.b64encode(bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a3"
            "e7f10c0000000049454e44ae426082")).decode()
        images_seen = []

        def looking_lm(prompt):
            parts = [p for m in prompt for p in m["content"]] if isinstance(prompt, list) else []
            images_seen.append(sum(1 for p in parts if isinstance(p, dict) and p.get("type") == "image_url"))
            return scripted_lm(prompt)

        def evaluate(candidate):
            record(candidate)
            render = Image(base64_data=PIXEL, media_type="image/png")
            return min(version(candidate), 10) / 10, {"render": render}

        result = optimize_anything(
            seed_candidate="v1", evaluator=evaluate,
            config=GEPAConfig(engine=EngineConfig(max_metric_calls=1000, max_candidate_proposals=2,
                                                  cache_evaluation=True, parallel=False),
                              reflection=ReflectionConfig(reflection_lm=looking_lm)))
        finish(result, images_seen=images_seen)
    ''')
    same_search(theirs, ours)
    assert theirs["images_seen"] == ours["images_seen"] == [1, 1]


def test_raise_on_exception_surfaces_the_evaluators_own_exception(tmp_path):
    theirs, ours = run_both(tmp_path, '''
        class DataProblem(ValueError):
            pass

        def evaluate(candidate, example):
            record(candidate, example)
            if example == 2:
                raise DataProblem(f"example {example} has no label")
            return 1.0

        try:
            optimize_anything(seed_candidate="v1", evaluator=evaluate, dataset=[1, 2],
                              config=GEPAConfig(engine=EngineConfig(max_metric_calls=10, raise_on_exception=True,
                                                                    parallel=False),
                                                reflection=ReflectionConfig(reflection_lm=scripted_lm)))
            caught = None
        except DataProblem as exc:
            caught = str(exc)
        with open(OUT, "w") as handle:
            json.dump({"caught": caught}, handle)
    ''')
    assert theirs == ours == {"caught": "example 2 has no label"}


def test_gepas_own_stopper_and_callback_classes_drive_a_honing_run(tmp_path):
    """GEPA's classes themselves (imported from the GEPA venv, after honing's own packages) on a honing run."""
    site = next((GEPA_PYTHON.parent.parent / "lib").glob("python*/site-packages"))
    program = tmp_path / "program.py"
    program.write_text(textwrap.dedent(f'''
        import json, sys
        sys.path.append({str(site)!r})
        from gepa.core.callbacks import GEPACallback
        from gepa.utils import CompositeStopper, MaxCandidateProposalsStopper, MaxMetricCallsStopper, \\
            ScoreThresholdStopper
        import honing as oa

        class Accepted(GEPACallback):  # GEPA's protocol class: every method present, most of them stubs
            def __init__(self):
                self.indices = []

            def on_candidate_accepted(self, event):
                self.indices.append(event["new_candidate_idx"])

        def lm(prompt):
            return "```\\n" + "@" * (prompt.count("@") + 1) + "\\n```"

        accepted = Accepted()
        stop = CompositeStopper(MaxMetricCallsStopper(40), MaxCandidateProposalsStopper(3), ScoreThresholdStopper(9))
        result = oa.optimize_anything("@", lambda c, example: len(c) + example, dataset=[0, 1],
                                      config=oa.GEPAConfig(engine=oa.EngineConfig(max_metric_calls=100,
                                                                                  parallel=False),
                                                           reflection=oa.ReflectionConfig(reflection_lm=lm),
                                                           callbacks=[accepted], stop_callbacks=[stop]))
        print(json.dumps({{"stop": result.stop_reason, "proposals": len(result.proposals),
                          "accepted": accepted.indices}}))
    '''))
    done = subprocess.run([sys.executable, str(program)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"stop": "CompositeStopper", "proposals": 3,
                                                                 "accepted": [1, 2, 3]}
