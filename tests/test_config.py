"""Profiles compose the layers' configs; recipes carry one input size; departures are computed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from merkit import config, paper
from merkit.reproduce import augcn, handcrafted, rrrn, tables


@pytest.mark.parametrize("name", config.PROFILES)
def test_profiles_leave_the_flow_output_size_to_the_recipes(name):
    prof = config.get_profile(name)
    assert prof.preprocess.flow.out_size is None  # set per row by the recipe, never twice


def test_paper_profile_has_no_departures_and_quick_lists_each_changed_field():
    assert config.departures(config.get_profile("paper")) == []
    quick = dict((k, (v, p)) for k, v, p in config.departures(config.get_profile("quick")))
    assert quick["augcn.train.epochs"] == (12, 50)
    assert quick["augcn.resnet18_input_size"] == (56, 112)
    assert "seeds" not in quick  # quick runs the paper's three seeds
    assert quick["occlusion.rrrn.backbone_widths"] == ((16, 32, 64, 128), (64, 128, 256, 512))
    assert quick["augcn.train.amp"] == ("bf16", "auto")
    assert not any(k.startswith("execution") for k in quick)  # how a run executes is no departure


def test_departures_are_limited_to_the_sections_a_notebook_uses():
    quick = config.get_profile("quick")
    only = config.departures(quick, ("augcn",))
    assert only and all(k.startswith("augcn.") for k, _, _ in only)


@pytest.mark.parametrize(("method", "size"), [("mer_augcn", 28), ("dual_inception", 28), ("resnet18", 56)])
def test_a_recipe_holds_the_input_size_once_and_derives_the_flows(method, size):
    recipe = augcn.recipe(config.get_profile("quick"), method)
    assert recipe.input_size == size
    assert recipe.flows.flow.out_size == size
    assert "input_size" not in {f.name for f in dataclasses.fields(recipe.config)}


def test_ablation_recipes_differ_only_where_the_row_does():
    quick = config.get_profile("quick")
    full, no_da = augcn.recipe(quick, "mer_augcn"), augcn.recipe(quick, "mer_augcn_no_da")
    assert full.config == no_da.config and full.augment and not no_da.augment
    soft = augcn.recipe(quick, "softmax_att")
    assert soft.config == dataclasses.replace(full.config, attention="softmax")


def test_occlusion_recipes_use_the_occlusion_section():
    quick = config.get_profile("quick")
    r = rrrn.recipe(quick, "rrrn")
    assert r.input_size == quick.occlusion.input_size == 32
    assert r.config == quick.occlusion.rrrn and r.train == quick.occlusion.train_of("rrrn")
    assert r.keep == ("alpha",)
    # a column's own budget replaces the section's; a column without one takes the section's
    assert r.train == dict(quick.occlusion.column_train)["rrrn"] != quick.occlusion.train
    bare = dataclasses.replace(quick.occlusion, column_train=())
    assert bare.train_of("vgg16") == bare.train == quick.occlusion.train
    h = handcrafted.recipe(quick, "lbp_top", protocol_section="occlusion")
    assert h.protocol == quick.occlusion.protocol


def test_scores_join_the_published_reference_on_its_key():
    pub = paper.published("augcn.table3")
    row = pub[(pub.method == "mer_augcn") & (pub.metric == "uar")].iloc[0]
    ours = pd.DataFrame([{"method": "mer_augcn", "fold": row.fold, "metric": "uar", "ours": 0.5}])
    joined = tables.join_published(ours, "augcn.table3")
    assert joined["published"].iat[0] == pytest.approx(row.value)
    assert joined["task"].iat[0] == "hde" and joined["condition"].iat[0] == "unocc"
    other = tables.join_published(ours.assign(fold="casme2->samm"), "augcn.table3")
    assert np.isnan(other["published"].iat[0])  # the ablations are printed on SAMM->CASME II only


def test_occlusion_scores_join_per_condition():
    pub = paper.published("rrrn.table4")
    row = pub[(pub.method == "rrrn") & (pub.condition == "mask") & (pub.metric == "f1")].iloc[0]
    ours = pd.DataFrame([{"method": "rrrn", "fold": "loso", "condition": "mask", "metric": "f1", "ours": 0.1}])
    assert tables.join_published(ours, "rrrn.table4")["published"].iat[0] == pytest.approx(row.value)


def test_profiles_carry_the_bootstrap_settings_and_they_are_no_departure():
    from merkit.metrics import BootstrapConfig

    assert config.get_profile("smoke").bootstrap == BootstrapConfig(n_resamples=200)
    for name in ("quick", "paper"):
        boot = config.get_profile(name).bootstrap
        assert (boot.n_resamples, boot.confidence, boot.method) == (1000, 0.95, "percentile")
    assert not any(k.startswith("bootstrap") for k, _, _ in config.departures(config.get_profile("smoke")))


def test_a_banner_lists_only_the_sections_its_notebook_uses_then_the_paper_profiles_own():
    from merkit.data import DataConfig, resolve
    from merkit.report.session import Report

    source = resolve(DataConfig(source="synthetic", synthetic_scale="smoke"), generate=False)
    quick = config.get_profile("quick")
    ablation = Report("03-x", quick, source, sections=("preprocess", "augcn", "seeds")).departures()
    assert any(line.startswith("augcn.train.epochs = 12") for line in ablation)
    assert not any(line.startswith("occlusion.") for line in ablation)  # not used by Table III
    assert ablation[-len(paper.PAPER_PROFILE_DEPARTURES):] == list(paper.PAPER_PROFILE_DEPARTURES)
    own = Report("03-x", config.get_profile("paper"), source, sections=("augcn",)).departures()
    assert own == list(paper.PAPER_PROFILE_DEPARTURES)  # the paper profile lists only its own


def test_rows_state_the_weights_they_start_from(tmp_path):
    import hashlib

    path = tmp_path / "resnet18-f37072fd.pth"
    path.write_bytes(b"not really a checkpoint")
    quick = config.get_profile("quick")
    prof = dataclasses.replace(quick, augcn=dataclasses.replace(quick.augcn, weights=(("resnet18", str(path)),)))
    assert augcn.recipe(prof, "resnet18").weights == str(path)
    table = augcn.starting_weights(prof, ("resnet18", "mer_augcn")).set_index("method")["weights"]
    assert table["resnet18"] == f"{path.name} sha256:{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"
    assert table["mer_augcn"] == "random"
    assert set(rrrn.starting_weights(quick)["weights"]) == {"random"}
    # a row's run key follows the file's content, not only its path
    r = augcn.recipe(prof, "resnet18")
    before = r.settings()["weights"]
    path.write_bytes(b"another checkpoint")
    assert r.settings()["weights"] != before
