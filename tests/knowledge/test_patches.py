"""Config patches: the fix language of the knowledge base."""

import pytest

from mlpilot.engine.config import TrainingConfig
from mlpilot.knowledge.kb import load_seed_entries
from mlpilot.knowledge.patches import apply_patch, describe_patch, fill_facts


@pytest.fixture()
def config() -> dict:
    return TrainingConfig().model_dump()


def test_numbers_set_and_x_multiplies(config):
    patched = apply_patch(
        config, {"optimizer.learning_rate": "x0.1", "optimizer.grad_clip_norm": 1.0}
    )
    assert patched["optimizer"]["learning_rate"] == pytest.approx(1e-4)
    assert patched["optimizer"]["grad_clip_norm"] == 1.0


def test_plus_adds_and_int_fields_stay_int(config):
    patched = apply_patch(config, {"early_stopping_patience": "+10", "batch_size": "x0.3"})
    assert patched["early_stopping_patience"] == 30
    assert patched["batch_size"] == 38 and isinstance(patched["batch_size"], int)


def test_positive_int_never_shrinks_below_one(config):
    config["batch_size"] = 1
    assert apply_patch(config, {"batch_size": "x0.5"})["batch_size"] == 1


def test_strings_bools_lists_and_none_set(config):
    patched = apply_patch(config, {
        "optimizer.scheduler": "cosine", "model.batch_norm": True,
        "model.hidden_sizes": [64], "optimizer.grad_clip_norm": None,
    })
    assert patched["optimizer"]["scheduler"] == "cosine"
    assert patched["model"]["batch_norm"] is True
    assert patched["model"]["hidden_sizes"] == [64]
    assert patched["optimizer"]["grad_clip_norm"] is None


def test_returns_a_new_dict_and_leaves_the_input_alone(config):
    before = TrainingConfig().model_dump()
    patched = apply_patch(config, {"model.hidden_sizes": [8], "optimizer.learning_rate": "x2"})
    assert config == before
    patched["model"]["hidden_sizes"].append(4)
    assert config["model"]["hidden_sizes"] == before["model"]["hidden_sizes"]


@pytest.mark.parametrize(
    ("path", "fragment"),
    [("optimizer.lr", "no key 'lr' in optimizer"),
     ("optimiser.learning_rate", "no key 'optimiser'"),
     ("batch_size.value", "'batch_size' is not a section")],
)
def test_unknown_path_is_a_key_error_naming_it(config, path, fragment):
    with pytest.raises(KeyError, match=fragment) as err:
        apply_patch(config, {path: 1.0})
    assert path in str(err.value)


def test_arithmetic_on_a_missing_value_is_an_error(config):
    with pytest.raises(ValueError, match="grad_clip_norm"):
        apply_patch(config, {"optimizer.grad_clip_norm": "x0.5"})


FACTS = {"columns": ["price"], "epochs_within_slice": 12}


def test_every_seed_fix_applies_to_the_default_config_and_stays_valid(config):
    for entry in load_seed_entries():
        patched = apply_patch(config, fill_facts(entry.fix, FACTS, config))
        TrainingConfig.model_validate(patched)  # raises if a seed writes a bad value
        assert describe_patch(entry.fix)


def test_fault_facts_fill_a_patch_and_a_list_fact_joins_the_list(config):
    config["preprocessing"]["drop_columns"] = ["id"]
    patch = {"preprocessing.drop_columns": "$fault.columns", "max_epochs": "$fault.epochs"}
    filled = fill_facts(patch, {"columns": ["price", "id"], "epochs": 12}, config)
    assert filled == {"preprocessing.drop_columns": ["id", "price"], "max_epochs": 12}
    with pytest.raises(KeyError, match="columns"):
        fill_facts(patch, {"epochs": 12}, config)
    assert describe_patch({}) == "no change"
