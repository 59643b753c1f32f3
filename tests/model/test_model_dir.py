"""Model-directory errors that decoding, evaluation and export rely on."""

import json

import pytest

from mtask_tf.model import builders
from mtask_tf.model import model_dir


def test_model_dir_without_checkpoint_or_config_is_named(tmp_path):
    with pytest.raises(model_dir.ModelDirError, match="model directory not found"):
        model_dir.load_trained(tmp_path / "absent")
    with pytest.raises(model_dir.ModelDirError, match=r"model.json: missing"):
        model_dir.load_trained(tmp_path)
    builders.ModelConfig(vocabulary_size=12, embedding_dim=4, units=8).save(tmp_path / "model.json")
    with pytest.raises(model_dir.ModelDirError, match=r"best: no checkpoint; train the model"):
        model_dir.load_trained(tmp_path)


def test_mtask_s_directories_are_found_and_named(tmp_path):
    assert model_dir.target_dir_name("Rachel Green") == "Rachel_Green"
    for target in ("A", "B"):
        (tmp_path / target).mkdir()
        builders.ModelConfig(vocabulary_size=12).save(tmp_path / target / "model.json")
    assert model_dir.model_dirs(tmp_path) == [tmp_path / "A", tmp_path / "B"]
    (tmp_path / "model.json").write_text("{}")
    assert model_dir.model_dirs(tmp_path) == [tmp_path]
    (tmp_path / "empty").mkdir()
    with pytest.raises(model_dir.ModelDirError, match="neither a model directory"):
        model_dir.model_dirs(tmp_path / "empty")


def test_best_record_round_trip_and_errors_that_name_the_file(tmp_path):
    dev = {"perplexity": 41.5, "nll": 10.0, "tokens": 3, "perplexity_by_speaker": {"A": 40.0}}
    model_dir.BestRecord(700, "multitask", dev).save(tmp_path)
    best = model_dir.BestRecord.load(tmp_path)
    assert (best.step, best.stage, best.perplexity) == (700, "multitask", 41.5)
    assert best.perplexity_by_speaker == {"A": 40.0}
    assert json.loads((tmp_path / "best.json").read_text())["dev"] == dev
    with pytest.raises(model_dir.ModelDirError, match="best.json: not found"):
        model_dir.BestRecord.load(tmp_path / "nothing")
    (tmp_path / "best.json").write_text('{"step": 1,')
    with pytest.raises(model_dir.ModelDirError, match=r"best.json:1: not valid JSON"):
        model_dir.BestRecord.load(tmp_path)
    (tmp_path / "best.json").write_text('{"step": 1, "stage": "seq2seq", "dev": {}}')
    with pytest.raises(model_dir.ModelDirError, match="not a best-weights record"):
        model_dir.BestRecord.load(tmp_path)
