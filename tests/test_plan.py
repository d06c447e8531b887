"""``python -m merkit.reproduce --plan``: counts from the real recipes and folds, measured hours only."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from merkit import paths
from merkit.config import get_profile
from merkit.data import DataConfig, resolve, synthetic
from merkit.preprocess.augment import AugmentConfig, augment_pairs
from merkit.reproduce import augcn, controls, handcrafted, plan, rrrn, tables

SMOKE = DataConfig(source="synthetic", synthetic_scale="smoke")


@pytest.fixture(scope="module")
def source(request):
    """The smoke set where the smoke profile finds it (generated into the test env if absent)."""
    if not (synthetic.default_dir("smoke") / synthetic.MARKER).is_file():
        request.getfixturevalue("isolated_env")
        synthetic.generate(paths.synthetic_dir() / "smoke", seed=0, scale="smoke")
    return resolve(SMOKE, generate=False)


@pytest.fixture(scope="module")
def smoke_plan(source):
    return plan.plan(get_profile("smoke"), source)


def _by_stem(p: plan.Plan) -> dict[str, plan.NotebookPlan]:
    return {nb.stem[:2]: nb for nb in p.notebooks}


def _runs(ws, recipe, protocol, condition="unocc"):
    """(method, protocol, fold, seed, condition) of every run the real grid would build."""
    return {(recipe.method, protocol, f.name, seed, condition)
            for f in tables.folds(ws, protocol, recipe.protocol) for seed in recipe.seeds}


def _described(runs):
    return {(r.method, r.protocol, r.fold, r.seed, r.condition) for r in runs}


def test_every_training_notebook_is_planned():
    stems = {s for s, _, _ in plan.NOTEBOOKS}
    for path in sorted(paths.notebooks_dir().glob("[0-9][0-9]-*.ipynb")):
        code = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
        if "trains=True" in code:
            assert path.stem in stems, f"{path.stem} trains but merkit.reproduce.plan does not plan it"
    assert all((paths.notebooks_dir() / f"{s}.ipynb").is_file() for s in stems)


def test_counts_are_the_real_codes_specs(smoke_plan, source):
    profile = get_profile("smoke")
    nbs = _by_stem(smoke_plan)
    ws = augcn.workspace(source)
    table3 = set().union(*[_runs(ws, augcn.recipe(profile, m), "ablation") for m in augcn.ABLATIONS["table3"][1]])
    assert _described(nbs["03"].deep.values()) == table3 and len(nbs["03"].deep) == len(table3)
    table4 = set().union(*[_runs(ws, augcn.recipe(profile, m), "ablation") for m in augcn.ABLATIONS["table4"][1]])
    assert len(nbs["04"].deep) == len(table4)
    # MER-auGCN on SAMM -> CASME II is Table III's run: stored once, new only there
    assert _described(nbs["04"].new_deep) == table4 - table3
    deep, svm = set(), set()
    for condition in profile.occlusion.conditions:
        for m in rrrn.DEEP:
            deep |= _runs(ws, rrrn.recipe(profile, m), "hde", condition)
        for m in rrrn.HANDCRAFTED:
            svm |= _runs(ws, handcrafted.recipe(profile, m, protocol_section="occlusion"), "hde", condition)
    assert _described(nbs["09"].deep.values()) == deep and len(nbs["09"].deep) == len(deep)
    assert _described(nbs["09"].svm.values()) == svm and len(nbs["09"].svm) == len(svm)
    # Table VI's un-occluded LBP-TOP / 3DHOG HDE runs come first; RRRN Table III reuses them
    shared = {r for r in svm if r[0] in ("lbp_top", "hog3d") and r[4] == "unocc"}
    assert _described(nbs["09"].new_svm) == svm - shared
    controls_runs = {(m, "ablation", f.name, s) for m in controls.METHODS
                     for f in tables.folds(ws, "ablation", profile.augcn.protocol) for s in profile.seeds}
    assert len(nbs["11"].deep) == len(controls.SETS) * len(controls_runs)
    assert len(nbs["11"].new_deep) == len(controls_runs)  # the standard set's are Table III's
    assert len({r.key for r in smoke_plan.new_deep}) == len(smoke_plan.new_deep)


def test_sample_steps_are_training_pairs_times_epochs(source):
    base = get_profile("smoke")
    aug = AugmentConfig(before_fractions=(0.8,), after_fractions=(0.2,), angles=(-10.0, 0.0, 10.0))
    profile = dataclasses.replace(
        base, preprocess=dataclasses.replace(base.preprocess, augment=aug),
        augcn=dataclasses.replace(base.augcn, train=dataclasses.replace(base.augcn.train, epochs=3)))
    p = plan.plan(profile, source, only=("02", "03"))
    nb02, nb03 = p.notebooks
    ws = augcn.workspace(source)
    df = ws.df
    pairs = [augment_pairs(r.onset, r.apex, r.offset, aug) for r in df.itertuples()]
    assert all(len(x) == aug.pairs_per_clip == 9 for x in pairs)
    # notebook 02: every clip's augmented pairs, a repeated pair of a short clip computed once
    assert nb02.flow_pairs == sum(len({(a, b) for a, b, _ in x}) for x in pairs)
    expected = 0
    for method in augcn.ABLATIONS["table3"][1]:
        recipe = augcn.recipe(profile, method)
        fold, = tables.folds(ws, "ablation", recipe.protocol)
        per_clip = aug.pairs_per_clip if recipe.augment else 1
        runs = [r for r in nb03.deep.values() if r.method == method]
        assert [r.train_samples for r in runs] == [len(fold.train) * per_clip] * len(recipe.seeds)
        expected += len(fold.train) * per_clip * 3 * len(recipe.seeds)
    assert nb03.sample_steps == nb03.new_sample_steps == expected


def _write(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


@pytest.fixture
def bench(tmp_path):
    base = {"machine": "test box", "device": "cpu", "timestamp": "2030-01-01T00:00:00"}
    _write(tmp_path / "train.json", base | {"throughput": [
        {"model": "mer_augcn", "method": "dual_inception", "input_size": 28, "batch_size": 16, "amp": "off",
         "samples_per_second": 100.0},
        {"model": "mer_augcn", "input_size": 56, "batch_size": 16, "amp": "off", "samples_per_second": 100.0},
    ]})
    _write(tmp_path / "flow.json", base | {"flow_throughput": [
        {"crop_size": 48, "pairs_per_second": 10.0, "n_jobs": 2}]})
    _write(tmp_path / "train-cuda.json", base | {"device": "cuda", "throughput": [
        {"model": "mer_augcn", "method": "resnet18", "input_size": 32, "batch_size": 16, "amp": "bf16",
         "samples_per_second": 5000.0}]})
    return tmp_path


def test_hours_use_the_measured_rates_and_leave_out_what_is_not_measured(smoke_plan, bench):
    tp = plan.machine_throughputs(bench)
    assert [f.path.name for f in tp.files] == ["train.json", "flow.json"] and not tp.missing
    nb03 = _by_stem(smoke_plan)["03"]
    match = tp.train_match(plan.TrainNeed("mer_augcn", "mer_augcn", "smoke", 28, 16, "auto"))
    assert match.scale == 4 and match.per_second == pytest.approx(100.0 * (56 / 28) ** 2)
    assert "scaled from 56 px" in match.describe()
    steps = {m: sum(r.sample_steps for r in nb03.new_deep if r.need.network == m)
             for m in ("dual_inception", "mer_augcn")}  # mer_augcn: also the w/o DA row
    assert all(steps.values()) and nb03.new_flow_pairs > 0
    got = plan.notebook_estimate(nb03, tp)
    want = (steps["dual_inception"] / 100.0 + steps["mer_augcn"] / 400.0 + nb03.new_flow_pairs / 10.0) / 3600
    assert got.hours == pytest.approx(want)
    assert "mer_augcn:resnet18 32 px, batch 16" in got.left_out and got.cell().endswith("+")
    text = plan.render(smoke_plan, plan.throughput_columns(bench, [[bench / "train-cuda.json"]]))
    line, = [x for x in text.splitlines() if x.strip().startswith("mer_augcn:resnet18 32 px, batch 16")]
    assert plan.NOT_MEASURED in line and "5,000/s (measured)" in line  # not here; on the GPU file
    line, = [x for x in text.splitlines() if x.strip().startswith("mer_augcn:aufeat 28 px, batch 16")]
    assert line.count(plan.NOT_MEASURED) == 2
    assert "scaled from 56 px" in text and "h cuda" in text


def test_no_bench_files_means_nothing_measured(smoke_plan, tmp_path):
    tp = plan.machine_throughputs(tmp_path)
    assert not tp.files and len(tp.missing) == 2
    total = plan.plan_estimate(smoke_plan, tp)
    assert total.hours == 0 and total.cell() == "n/m"
    assert len(total.left_out) == len({r.need for r in smoke_plan.new_deep}) + len(smoke_plan.new_flow_work()) + 1
    assert plan.NOT_MEASURED in tp.describe()


def test_execution_sets_the_rate_of_a_grid_and_tv_l1_settings_must_match(tmp_path):
    from merkit.experiments import ExecutionConfig

    base = {"machine": "m", "timestamp": "2030-01-01T00:00:00"}
    entry = {"model": "rrrn", "method": "rrrn", "input_size": 32, "batch_size": 16, "amp": "bf16",
             "samples_per_second": 10.0, "ensemble_members": 3, "ensemble_samples_per_second": 6.0}
    cpu = plan.read_bench_files([_write(tmp_path / "cpu.json", base | {"device": "cpu", "throughput": [entry]})])
    gpu = plan.read_bench_files([_write(tmp_path / "gpu.json", base | {"device": "cuda", "throughput": [entry]})])
    need = plan.TrainNeed("rrrn", "rrrn", "quick", 32, 16, "bf16")
    ex = ExecutionConfig(n_jobs=2, threads_per_job=1)
    assert plan.grid_rate(cpu.train_match(need), ex, 3, "cpu")[0] == 20.0  # two workers
    assert plan.grid_rate(cpu.train_match(need), ex, 1, "cpu")[0] == 10.0
    assert plan.grid_rate(gpu.train_match(need), ex, 47, "cuda")[0] == 18.0  # 3 members measured, no more
    assert plan.grid_rate(gpu.train_match(need), ex, 2, "cuda")[0] == 12.0
    assert cpu.train_match(dataclasses.replace(need, network="vgg16")) is None
    flow = plan.read_bench_files([_write(tmp_path / "flow.json", base | {"flow_throughput": [
        {"crop_size": 64, "pairs_per_second": 8.0, "n_jobs": 2, "tvl1_params": {"warps": 1, "outer_iterations": 1}}]})])
    quick = get_profile("quick").preprocess.flow
    tvl1 = lambda cfg: tuple((k, getattr(cfg, k)) for k in plan.TVL1_FIELDS)  # noqa: E731
    assert flow.flow_match(plan.FlowNeed(64, 2, tvl1(quick))).per_second == 8.0
    assert flow.flow_match(plan.FlowNeed(128, 2, tvl1(quick))).per_second == 2.0  # scaled from 64 px
    assert flow.flow_match(plan.FlowNeed(224, 2, tvl1(get_profile("paper").preprocess.flow))) is None


def test_cli_prints_every_notebook_and_a_total(monkeypatch, capsys, source, bench):
    from merkit.reproduce.__main__ import main

    monkeypatch.setattr("merkit.data.resolve", lambda config, **_: source)
    assert main(["--profile", "smoke", "--plan", "--bench-dir", str(bench),
                 "--throughput", str(bench / "train-cuda.json")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^total \(each run and flow once\)", out, re.M)
    for _, title, _ in plan.NOTEBOOKS:
        assert title in out
    assert main(["--profile", "smoke", "--plan", "--throughput", str(bench / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().out
