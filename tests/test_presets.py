"""Presets in the paper's terms, and ``ddc-tf fit --preset`` (explicit flags win)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

import ddc_tf.experiments.protocol
from ddc_tf.experiments.presets import FIT_DEFAULTS, PRESETS, get_preset, resolve_fit_options


def test_paper_presets_say_what_the_paper_says():
    for name in ("mnist-paper", "fashion-mnist-paper", "reuters-paper"):
        p = get_preset(name)
        assert (p.steps, p.runs, p.batch_size, p.rel_sigma) == (70_000, 20, 100, 0.15)
        assert p.learning_rate == {"conv": 1e-3, "mlp": 1e-5}[p.backbone]
    assert get_preset("mnist-paper").backbone == "conv" and get_preset("reuters-paper").backbone == "mlp"


def test_every_preset_is_valid_and_names_its_departures():
    expected = {"mnist-paper", "mnist-cpu", "fashion-mnist-paper", "fashion-mnist-cpu", "digits-cpu",
                "reuters-paper", "20news-cpu"}
    assert expected <= set(PRESETS)
    for preset in PRESETS.values():
        config = preset.config(n_clusters=4)
        assert config.steps == preset.steps and config.learning_rate == preset.learning_rate
        assert preset.departures, preset.name  # at least the bandwidth convention
        if preset.name.endswith("-cpu"):
            assert any("instead of 20 × 70 000" in d or "instead of 70 000" in d for d in preset.departures)
    assert get_preset("Digits_CPU") is PRESETS["digits-cpu"]
    with pytest.raises(ValueError, match="known presets"):
        get_preset("mnist-gpu")


def test_paper_presets_follow_the_papers_protocol_and_the_others_say_they_do_not():
    """Lowest-loss pick saved as trained, VOTE of the best 3, no refined runs (SPEC §3)."""
    for name in ("mnist-paper", "fashion-mnist-paper", "reuters-paper"):
        resolved = resolve_fit_options(get_preset(name), {"selector": None, "vote_runs": None})
        assert (resolved["selector"], resolved["vote_runs"], resolved["distill_steps"], resolved["refine_runs"]) == \
            ("loss", 3, 0, 0)
    assert resolve_fit_options(get_preset("mnist-paper"), {"selector": "l1"})["selector"] == "l1"  # a flag wins
    # a quick check with fewer runs than the paper's vote: no vote, as without the preset
    assert resolve_fit_options(get_preset("mnist-paper"), {"runs": 2})["vote_runs"] is None
    assert get_preset("mnist-paper").protocol_options("ddc") == {"selector": "loss", "vote_runs": 3, "refine_runs": 0}
    assert get_preset("digits-cpu").protocol_options("ddc") == {"selector": "consensus", "vote_runs": None,
                                                               "refine_runs": 3}
    for name in ("mnist-cpu", "digits-cpu", "20news-cpu"):
        assert any("--selector loss --vote-runs 3" in d for d in get_preset(name).departures)
        assert resolve_fit_options(get_preset(name), {})["selector"] == "consensus"


def test_explicit_options_beat_the_preset_which_beats_the_defaults():
    preset = get_preset("mnist-cpu")
    resolved = resolve_fit_options(preset, {"steps": 10, "lr": None, "runs": None, "quiet": True})
    assert resolved["steps"] == 10 and resolved["lr"] == preset.learning_rate
    assert resolved["runs"] == preset.runs and resolved["data"] == "mnist" and resolved["quiet"] is True
    plain = resolve_fit_options(None, {"data": "digits"})
    assert plain == {**FIT_DEFAULTS, "data": "digits"}


def test_fit_with_a_preset_and_an_override(tmp_path, monkeypatch, capsys):
    from ddc_tf.cli import main

    seen = {}
    real = ddc_tf.experiments.protocol.run_protocol

    def spy(data, config, **kwargs):
        seen.update(config=config, runs=kwargs["runs"], data=data.name)
        return real(data, config, **kwargs)

    monkeypatch.setattr(ddc_tf.experiments.protocol, "run_protocol", spy)
    out = tmp_path / "fit"
    assert main(["fit", "--preset", "digits-cpu", "--steps", "3", "--runs", "1", "--out", str(out), "--quiet"]) == 0
    assert seen["data"] == "digits" and seen["runs"] == 1
    config = seen["config"]
    assert (config.steps, config.backbone, config.learning_rate) == (3, "mlp", 1e-3)
    assert json.loads((out / "results.json").read_text())["config"]["learning_rate"] == 1e-3
    assert main(["presets"]) == 0
    assert "digits-cpu" in capsys.readouterr().out


def test_fit_without_data_or_preset_is_an_error(tmp_path, capsys):
    from ddc_tf.cli import main

    assert main(["fit", "--out", str(tmp_path)]) == 2
    assert "--data SOURCE" in capsys.readouterr().err
