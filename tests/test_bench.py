"""``ganzoo bench`` and the engine's wall-clock budget: a tiny suite (two recipes x two seeds and a
broken one) gives the JSON, Markdown and HTML with the expected rows and statistics; a rerun
skips what finished; a broken recipe is recorded while the others finish; ``train.max_seconds``
stops at the first iteration past the limit, not counting evaluations, across a resume."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

import pytest

from ganzoo.bench import tables
from ganzoo.bench.runner import Bench, BenchPlan
from ganzoo.bench.suites import collect_suites
from ganzoo.testing import TINY_RECIPE

ROOT = Path(__file__).resolve().parents[1]

UNIT = (TINY_RECIPE.replace('name = "tiny"', 'name = "tiny_unit"').replace('type = "cyclegan"', 'type = "unit"')
        .replace('type = "resnet_6blocks"\nngf = 4', 'type = "unit_vae"\ndim = 4\nn_res = 1')
        .replace('type = "patchgan"\nndf = 4\nn_layers = 2',
                 'type = "multiscale_patchgan"\ndim = 4\nn_layer = 2\nnum_scales = 1'))
BROKEN = TINY_RECIPE.replace('name = "tiny"', 'name = "broken"').replace(
    "eval_items = 4", 'eval_items = 4\nbest_metric = "a2b/nope"')  # fails at its first evaluation, in training


def write_recipes(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    texts = {"tiny_cyclegan": TINY_RECIPE.replace('name = "tiny"', 'name = "tiny_cyclegan"'), "tiny_unit": UNIT,
             "broken": BROKEN}
    paths = {}
    for name, text in texts.items():
        paths[name] = folder / f"{name}.toml"
        paths[name].write_text(text.replace("test_size = 4", "test_size = 6"))
    return paths


def tiny_plan(recipes: list[Path], out: Path, **changes) -> BenchPlan:
    values = dict(recipes=recipes, out=out, seeds=[0, 1], budget_iterations=3, evals=3, in_process=True)
    values.update(changes)
    return BenchPlan(**values)


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """Two recipes x two seeds and a broken recipe, 3 iterations each, evaluated 3 times."""
    root = tmp_path_factory.mktemp("bench")
    recipes = write_recipes(root / "recipes")
    Bench(tiny_plan(list(recipes.values()), root / "out"), say=lambda line: None).run()
    return root / "out", recipes


# ---------------------------------------------------------------- statistics and tables


def test_mean_and_sample_standard_deviation():
    s = tables.mean_std([1.0, 2.0, 3.0, 4.0])
    assert s is not None and s.mean == 2.5 and s.n == 4
    assert s.std == pytest.approx(((1.5**2 + 0.5**2) * 2 / 3) ** 0.5)  # n - 1 in the denominator
    one = tables.mean_std([7.0])
    assert one is not None and one.std is None and tables.stat(one) == "7.000"
    assert tables.mean_std([]) is None
    assert tables.stat(s) == "2.500 ± 1.291" and tables.stat(tables.mean_std([20.0, 22.0])) == "21.00 ± 1.41"


def test_the_tiny_suite_writes_json_markdown_and_html(tiny_bench):
    out, _ = tiny_bench
    results = json.loads((out / "results.json").read_text())
    entries = results["entries"]
    assert sorted(entries) == [f"{r}/seed{s}" for r in ("broken", "tiny_cyclegan", "tiny_unit") for s in (0, 1)]
    for key in ("cpu", "torch_threads", "torch", "date"):
        assert results["machine"][key]
    for recipe, method in (("tiny_cyclegan", "cyclegan"), ("tiny_unit", "unit")):
        for seed in (0, 1):
            e = entries[f"{recipe}/seed{seed}"]
            assert e["status"] == "ok" and e["method"] == method and e["seed"] == seed
            assert e["iterations"] == 3 and e["stopped_by"] == "length" and e["train_seconds"] > 0
            assert e["images_per_second"] == pytest.approx(3 * 2 / e["train_seconds"], rel=0.01)
            assert [ev["step"] for ev in e["evaluations"]] == [0, 1, 2, 3]  # eval_every = 3 // 3
            assert e["last"]["step"] == 3 and e["best"]["step"] >= 1
    # each seed trained differently
    assert entries["tiny_unit/seed0"]["last"]["a2b/psnr"] != entries["tiny_unit/seed1"]["last"]["a2b/psnr"]

    md = (out / "results.md").read_text()
    html = (out / "results.html").read_text()
    column = [statistics.fmean(entries[f"{r}/seed{s}"]["last"]["a2b/psnr"] for s in (0, 1))
              for r in ("tiny_cyclegan", "tiny_unit")]
    digits = 2 if max(column) >= 10 else 3  # one precision per column
    for recipe, method in (("tiny_cyclegan", "cyclegan"), ("tiny_unit", "unit")):
        psnr = [entries[f"{recipe}/seed{s}"]["last"]["a2b/psnr"] for s in (0, 1)]
        cell = f"{statistics.fmean(psnr):.{digits}f} ± {statistics.stdev(psnr):.{digits}f}"
        row = next(line for line in md.splitlines() if line.startswith(f"| {method} | {recipe} |"))
        assert "| 2/2 |" in row and cell in row, (row, cell)
        assert f"<td>{recipe}</td>" in html and cell in html
        assert f"![{recipe}](samples/{recipe}.png)" in md and (out / "samples" / f"{recipe}.png").is_file()
        best = [entries[f"{recipe}/seed{s}"]["best"]["a2b/psnr"] for s in (0, 1)]
        best_cell = f"{statistics.fmean(best):.{digits}f} ± {statistics.stdev(best):.{digits}f}"
        assert best_cell in md.split("## Best checkpoint")[1].split("## Samples")[0]
    header = next(line for line in md.splitlines() if line.startswith("| method | recipe | seeds |"))
    assert "a2b/psnr ↑" in header and "peak memory" in header and "images/s" in header
    assert "sample standard deviation" in md and "n − 1" in md
    assert "every entry was scored on the same test images" in md


def test_a_broken_recipe_is_recorded_and_the_others_finish(tiny_bench):
    out, _ = tiny_bench
    results = json.loads((out / "results.json").read_text())
    for seed in (0, 1):
        e = results["entries"][f"broken/seed{seed}"]
        assert e["status"] == "failed" and "train.best_metric 'a2b/nope'" in e["error"]
    md = (out / "results.md").read_text()
    assert "| cyclegan | broken | 0/2 |" in md
    assert "- `broken` seed 1: failed: train.best_metric 'a2b/nope'" in md.split("## Failures")[1]
    assert results["finished"] is False  # not every entry finished


def test_a_recipe_that_does_not_load_is_recorded_without_training(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_RECIPE.replace('type = "cyclegan"', 'type = "no_such_method"'))
    results = Bench(tiny_plan([bad], tmp_path / "out", seeds=[0]), say=lambda line: None).run()
    e = results["entries"]["bad/seed0"]
    assert e["status"] == "failed" and "no_such_method" in e["error"]
    assert not (tmp_path / "out" / "runs").exists()


def test_a_rerun_skips_finished_entries_and_retries_the_others(tiny_bench, tmp_path, monkeypatch):
    out, recipes = tiny_bench
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    data = json.loads((copy / "results.json").read_text())
    data["entries"]["tiny_unit/seed1"]["status"] = "interrupted"  # as if Ctrl-C had stopped it
    data["machine"]["cpu"] = "another CPU"  # begun elsewhere
    (copy / "results.json").write_text(json.dumps(data))
    before = data["entries"]
    calls = {}
    from ganzoo.bench import worker

    def fake_run_entry(spec):
        calls[Path(spec["run_dir"]).relative_to(copy / "runs").as_posix()] = spec["resume"]
        return {"status": "failed", "error": "still broken"}

    monkeypatch.setattr(worker, "run_entry", fake_run_entry)
    lines: list[str] = []
    results = Bench(tiny_plan(list(recipes.values()), copy), say=lines.append).run()
    after = results["entries"]
    assert results["machine"]["cpu"] == "another CPU" and results["mixed_machines"] is True
    assert "trained on different machines" in (copy / "results.md").read_text()
    # failed entries start over, the interrupted one continues from its checkpoint
    assert calls == {"broken/seed0": False, "broken/seed1": False, "tiny_unit/seed1": True}
    for key in ("tiny_cyclegan/seed0", "tiny_cyclegan/seed1", "tiny_unit/seed0"):
        assert after[key] == before[key]
        assert f"{key}: done before, skipped" in lines
    assert after["broken/seed0"]["error"] == "still broken"


def test_a_rerun_with_other_settings_is_refused(tiny_bench, tmp_path):
    out, recipes = tiny_bench
    from ganzoo.errors import GanzooError

    with pytest.raises(GanzooError, match="other settings"):
        Bench(tiny_plan(list(recipes.values()), out, budget_iterations=5))


def test_a_changed_recipe_file_is_trained_again(tiny_bench, tmp_path, monkeypatch):
    out, recipes = tiny_bench
    copy, folder = tmp_path / "out", tmp_path / "recipes"
    shutil.copytree(out, copy)
    changed = write_recipes(folder)
    changed["tiny_unit"].write_text(changed["tiny_unit"].read_text() + "\n# edited\n")
    from ganzoo.bench import worker

    calls = []
    monkeypatch.setattr(worker, "run_entry", lambda spec: calls.append(Path(spec["run_dir"]).parent.name) or
                        {"status": "failed", "error": "x"})
    Bench(tiny_plan([changed["tiny_cyclegan"], changed["tiny_unit"]], copy), say=lambda line: None).run()
    assert calls == ["tiny_unit", "tiny_unit"]


def test_an_interrupted_entry_continues_from_its_checkpoint(tmp_path):
    """The worker resumes a run directory that holds a checkpoint, and reads the evaluations of
    the whole run from its log."""
    from ganzoo.bench.worker import run_entry

    recipe = write_recipes(tmp_path / "recipes")["tiny_cyclegan"]
    spec = {"recipe": str(recipe), "run_dir": str(tmp_path / "straight"),
            "overrides": ["train.iterations=4", "train.checkpoint_every=2", "train.eval_every=2",
                          "train.sample_every=0", "train.loggers=[]"]}
    straight = run_entry(spec)
    crashed = tmp_path / "crashed"  # as if stopped after the checkpoint of step 2
    shutil.copytree(tmp_path / "straight", crashed)
    shutil.rmtree(crashed / "checkpoints" / "final")
    (crashed / "checkpoints" / "latest").write_text("step_0000002")
    resumed = run_entry({**spec, "run_dir": str(crashed), "resume": True})
    assert resumed["status"] == "ok" and resumed["iterations"] == 4
    assert [ev["step"] for ev in resumed["evaluations"]] == [0, 2, 4]
    assert resumed["last"] == pytest.approx(straight["last"])


def test_a_seconds_budget_measures_each_recipe_then_stops_on_time(tmp_path):
    recipe = write_recipes(tmp_path / "recipes")["tiny_cyclegan"]
    plan = tiny_plan([recipe], tmp_path / "out", seeds=[0], budget_iterations=None, budget_seconds=0.5,
                     calibration_iterations=6, evals=1)
    lines: list[str] = []
    results = Bench(plan, say=lines.append).run()
    speed = results["calibration"]["tiny_cyclegan"]
    assert speed["it_s"] > 0 and speed["planned_iterations"] == max(1, math.ceil(speed["it_s"] * 0.5))
    e = results["entries"]["tiny_cyclegan/seed0"]
    assert e["status"] == "ok" and "train.max_seconds=0.5" in e["overrides"]
    assert e["planned_iterations"] == speed["planned_iterations"] and 1 <= e["iterations"] <= e["planned_iterations"]
    if e["stopped_by"] == "time":  # else the machine ran faster than measured and the length came first
        assert e["train_seconds"] >= 0.5 and e["iterations"] < e["planned_iterations"]
    assert "0.5 s of training per entry" in (tmp_path / "out" / "results.md").read_text()
    assert any("measuring its speed" in line for line in lines)
    lines.clear()
    e["status"] = "failed"  # a rerun retrains it, but does not measure the speed again
    (tmp_path / "out" / "results.json").write_text(json.dumps(results))
    Bench(plan, say=lines.append).run()
    assert not any("measuring its speed" in line for line in lines)


@pytest.mark.slow
def test_entries_run_in_their_own_processes(tmp_path):
    """The real path: a worker process per entry, its log beside the run, its own peak memory."""
    recipes = write_recipes(tmp_path / "recipes")
    plan = tiny_plan([recipes["tiny_cyclegan"], recipes["broken"]], tmp_path / "out", seeds=[0], in_process=False,
                     threads=1)
    results = Bench(plan, say=lambda line: None).run()
    ok, broken = results["entries"]["tiny_cyclegan/seed0"], results["entries"]["broken/seed0"]
    assert ok["status"] == "ok" and ok["iterations"] == 3 and ok["threads"] == 1
    assert ok["memory"]["rss_bytes"] > 50 * 2**20
    assert broken["status"] == "failed" and "a2b/nope" in broken["error"]
    assert "a2b/nope" in (tmp_path / "out" / "runs" / "broken" / "seed0.log").read_text()
    assert " MiB RSS |" in (tmp_path / "out" / "results.md").read_text()


# ---------------------------------------------------------------- the wall-clock budget


class FakeTime:
    """The clock's time source, advanced by hand: each iteration takes ``per_iteration`` s."""

    def __init__(self, per_iteration: float):
        self.now, self.per_iteration = 1000.0, per_iteration

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_time(monkeypatch):
    from ganzoo.engine import clock, evaluation, steps

    fake = FakeTime(0.3)
    monkeypatch.setattr(clock, "timer", fake)
    iteration = steps.StepRunner.iteration

    def slow_iteration(self, batch, number):
        fake.now += fake.per_iteration
        return iteration(self, batch, number)

    evaluate = evaluation.Evaluator.__call__

    def slow_evaluation(self, method, ema=None):
        fake.now += 100.0  # an evaluation far longer than the budget: it must not count
        return evaluate(self, method, ema)

    monkeypatch.setattr(steps.StepRunner, "iteration", slow_iteration)
    monkeypatch.setattr(evaluation.Evaluator, "__call__", slow_evaluation)
    return fake


def _fit(tiny_recipe: Path, run_dir: Path, *overrides: str, resume: bool = False):
    from ganzoo.engine.trainer import Trainer
    from ganzoo.recipe import load_recipe

    resolved = load_recipe(tiny_recipe, ["train.iterations=50", "train.max_seconds=1.0", "train.sample_every=0",
                                         "train.eval_every=2", "train.loggers=[]", *overrides])
    return Trainer(resolved, run_dir=run_dir, resume=resume, show_progress=False).fit()


def test_the_wall_clock_budget_stops_at_the_first_iteration_past_it(tiny_recipe, tmp_path, fake_time):
    result = _fit(tiny_recipe, tmp_path / "run")
    # 0.3, 0.6, 0.9 s are under 1.0; the 4th iteration ends at 1.2 s: the first past the limit
    assert result.step == 4 and not result.stopped_early
    assert result.train_seconds == pytest.approx(1.2)
    assert (result.run_dir / "checkpoints" / "final" / "model.safetensors").is_file()
    assert [ev["step"] for ev in result.evaluations] == [0, 2, 4]  # the final evaluation ran too
    log = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    end = next(r for r in log if r.get("event") == "end")
    assert end["step"] == 4 and end["stopped_by"] == "time" and end["train_seconds"] == 1.2


def test_the_budget_continues_across_a_resume(tiny_recipe, tmp_path, fake_time):
    straight = _fit(tiny_recipe, tmp_path / "straight", "train.checkpoint_every=2").run_dir
    crashed = tmp_path / "crashed"
    shutil.copytree(straight, crashed)
    shutil.rmtree(crashed / "checkpoints" / "final")
    (crashed / "checkpoints" / "latest").write_text("step_0000002")  # 0.6 s trained when it was saved
    fake_time.now = 5000.0
    result = _fit(tiny_recipe, crashed, "train.checkpoint_every=2", resume=True)
    assert result.step == 4  # not 2 + 4 iterations of a fresh budget
    assert result.train_seconds == pytest.approx(1.2)
    longer = _fit(tiny_recipe, crashed, "train.checkpoint_every=2", "train.max_seconds=2.0", resume=True)
    assert longer.step == 7 and longer.train_seconds == pytest.approx(2.1)  # resume --set extends the budget


def test_a_real_clock_stops_on_time(tiny_recipe, tmp_path, monkeypatch):
    import time

    from ganzoo.engine import steps

    iteration = steps.StepRunner.iteration

    def slow(self, batch, number):
        time.sleep(0.05)
        return iteration(self, batch, number)

    monkeypatch.setattr(steps.StepRunner, "iteration", slow)
    result = _fit(tiny_recipe, tmp_path / "run", "train.max_seconds=0.3", "train.eval_metrics=[]")
    assert result.train_seconds >= 0.3
    # every iteration takes at least 0.05 s, so 6 of them reach 0.3 s: it cannot have run a 7th
    assert 1 <= result.step <= 6


# ---------------------------------------------------------------- suites, the command, the leaderboard


def test_the_quickstart_suites_hold_every_builtin_quickstart_once_by_task():
    """Every quickstart is in the suite of its data set's task, except the SR GAN stage, which
    starts from another run ([init] from)."""
    suites = collect_suites()
    by_suite = {name: sorted(p.name for p in suites[name].recipe_paths())
                for name in ("translation-quick", "multidomain-quick", "sr-quick")}
    everything = [name for names in by_suite.values() for name in names]
    assert sorted(everything + ["esrgan_quickstart.toml"]) == sorted(
        p.name for p in (ROOT / "recipes").glob("*quickstart*.toml"))
    assert {"quickstart.toml", "cut_quickstart.toml", "munit_quickstart.toml"} <= set(by_suite["translation-quick"])
    assert by_suite["multidomain-quick"] == ["stargan_quickstart.toml", "starganv2_quickstart.toml"]
    assert by_suite["sr-quick"] == ["sr_quickstart.toml"]
    assert all(suites[name].budget_seconds and len(suites[name].seeds) == 3 for name in by_suite)


def test_plugins_add_suites_and_a_failing_hook_is_isolated(tmp_path):
    import ganzoo
    from ganzoo.plugins import load_plugins
    from ganzoo.registry import PluginInfo

    class Adds:
        @ganzoo.hookimpl
        def register_bench_suites(self, suites):
            suites.add("mine", [tmp_path / "x.toml"], description="my recipes", budget_iterations=10, seeds=[4])

    class Fails:
        @ganzoo.hookimpl
        def register_bench_suites(self, suites):
            suites.add("half", [], description="never seen")
            raise RuntimeError("boom")

    loaded = load_plugins(entry_points=[], extra=[(PluginInfo("adds"), Adds()), (PluginInfo("fails"), Fails())])
    warnings: list[str] = []
    suites = collect_suites(loaded, warn=warnings.append)
    assert suites["mine"].recipe_paths() == [tmp_path / "x.toml"] and suites["mine"].seeds == (4,)
    assert suites["mine"].origin == "plugin adds" and "translation-quick" in suites
    assert "half" not in suites and warnings == ["plugin fails: register_bench_suites failed: RuntimeError: boom"]


def test_the_command_lists_suites(ganzoo_cli):
    for args in (("--list-suites",), ("--suite", "list")):
        result = ganzoo_cli("bench", *args)
        assert result.exit_code == 0, result.output
        assert "translation-quick" in result.stdout and "quickstart.toml" in result.stdout
    result = ganzoo_cli("bench", "--suite", "nope")
    assert result.exit_code == 2 and "no bench suite 'nope'" in result.stderr


def test_the_command_benches_and_renders(ganzoo_cli, tiny_bench, tmp_path):
    out, recipes = tiny_bench
    result = ganzoo_cli("bench", recipes["tiny_cyclegan"], "--out", tmp_path / "b", "--budget-iterations", "2",
                        "--seeds", "3", "--evals", "1", "--in-process")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "b" / "results.json").read_text())
    assert data["entries"]["tiny_cyclegan/seed3"]["iterations"] == 2
    page = tmp_path / "leaderboard.md"
    assert ganzoo_cli("bench", "--render", out / "results.json", "--to", page).exit_code == 0
    text = page.read_text()
    assert text.startswith("# Leaderboard") and tables.REPRODUCE_COMMAND in text and "| unit | tiny_unit |" in text
    assert ganzoo_cli("bench", "--render", out / "results.json", "--to", page, "--check").exit_code == 0
    page.write_text(text + "edited\n")
    stale = ganzoo_cli("bench", "--render", out / "results.json", "--to", page, "--check")
    assert stale.exit_code == 1 and "out of date" in stale.stderr
    both = ganzoo_cli("bench", recipes["tiny_cyclegan"], "--budget-iterations", "2", "--budget-seconds", "2")
    assert both.exit_code == 2 and "not both" in both.stderr
    missing = ganzoo_cli("bench", "no_such_recipe", "--budget-iterations", "2")  # a path or a recipe name
    assert missing.exit_code == 2 and "recipe file not found: no_such_recipe" in missing.stderr


@pytest.mark.parametrize(("results_path", "page_path"), tables.LEADERBOARDS)
def test_the_leaderboard_pages_are_generated_from_their_committed_results(results_path, page_path, monkeypatch):
    """docs/leaderboard*.md are the renderings of benchmarks/results/leaderboard*.json: both or neither."""
    monkeypatch.chdir(ROOT)  # the page names its paths relative to the checkout
    results, page = ROOT / results_path, ROOT / page_path
    command = f"ganzoo bench --render {results_path} --to {page_path}"
    assert results.is_file() == page.is_file(), f"commit both or neither; regenerate: {command}"
    if results.is_file():
        assert tables.render(results, page, check=True), f"{page} is stale; run: {command}"
