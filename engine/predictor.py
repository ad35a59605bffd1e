"""A trained model ready for new raw rows: predict, predict_proba, save and load.

A saved network is a directory: `model.pt` (state_dict), `preprocessor.pkl`, and
`config.json`, `task.json`, `meta.json`. A saved tree model ("hist_gbt") has `model.pkl`
(the fitted scikit-learn estimator) in place of `model.pt`. Pickles run code when loaded,
so load only directories you trust (your own runs).

`predict_scores` gives "scores" (see `scores.py`): class probabilities for
classification, original-scale values for regression; ensembles average them.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .config import TaskSpec, TrainingConfig
from .encoding import RawRows
from .models import build_model, embeds_categories
from .preprocess import Preprocessor
from .scores import scores_to_predictions
from .trees import tree_scores

FORMAT_VERSION = 1
ENSEMBLE_FILE = "ensemble.json"
FEATURES_FILE = "features.json"  # engine.features.FEATURES_FILE
STUDENT_FILE = "student.json"
STACK_FILE = "stack.json"
_CHUNK = 65536


class TrainedModel:
    """A model with the preprocessor that feeds it, the task and the config it came from.

    `model` is a PyTorch network, or a fitted scikit-learn estimator for "hist_gbt".
    """

    def __init__(self, task: TaskSpec, config: TrainingConfig, preprocessor: Preprocessor,
                 model: nn.Module | Any):
        self.task = task
        self.config = config
        self.preprocessor = preprocessor
        self.model = model.eval() if isinstance(model, nn.Module) else model

    @property
    def classes(self) -> list | None:
        """Class labels in the order of `predict_proba` columns; None for regression."""
        return self.preprocessor.classes

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Class labels or original-scale values for the rows of a raw DataFrame.

        Extra columns are ignored; missing feature columns count as missing values.
        """
        return scores_to_predictions(self.predict_scores(df), self.classes)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities (rows x classes, in `classes` order); None for regression."""
        if not self.task.is_classification:
            return None
        return self.predict_scores(df)

    def predict_scores(self, df: pd.DataFrame | RawRows) -> np.ndarray:
        """Probabilities (classification) or original-scale values (regression) for raw rows
        (a DataFrame, or `RawRows` that serving checked)."""
        return self.scores(self.preprocessor.transform(df))

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Like `predict_scores`, for rows already encoded by this model's preprocessor."""
        return matrix_scores(self.model, X, self.preprocessor)

    def save(self, directory: str | Path) -> Path:
        """Write the model to `directory` (created if needed) and return its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        pre = self.preprocessor
        meta = {"format": FORMAT_VERSION, "n_inputs": pre.n_features,
                "n_outputs": len(self.classes) if self.classes is not None else 1,
                "classes": self.classes, "family": self.config.model.family}
        if isinstance(self.model, nn.Module):
            meta["embeds_categories"] = embeds_categories(self.model)
            torch.save({k: v.cpu() for k, v in self.model.state_dict().items()},
                       directory / "model.pt")
        else:
            with open(directory / "model.pkl", "wb") as fh:
                pickle.dump(self.model, fh)
        with open(directory / "preprocessor.pkl", "wb") as fh:
            pickle.dump(pre, fh)
        (directory / "config.json").write_text(self.config.model_dump_json(indent=2))
        (directory / "task.json").write_text(self.task.model_dump_json(indent=2))
        (directory / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: str | Path):
        """Read a model written by `save` (on the CPU).

        A directory written by `engine.ensemble.EnsembleModel.save` loads as that
        `EnsembleModel` (same predict/predict_proba/save), one written by
        `engine.compression.StudentModel.save` as that student, one written by
        `engine.stacking.StackModel.save` as that stack, and one with `features.json` as an
        `engine.features.FeaturedModel`, so serving code needs no branch.
        """
        directory = Path(directory)
        if (directory / FEATURES_FILE).is_file():  # generated feature transforms first
            from .features import FeaturedModel

            return FeaturedModel.load(directory)
        if (directory / ENSEMBLE_FILE).is_file():
            from .ensemble import EnsembleModel  # ensemble imports this module

            return EnsembleModel.load(directory)
        if (directory / STACK_FILE).is_file():
            from .stacking import StackModel  # stacking imports this module

            return StackModel.load(directory)
        if (directory / STUDENT_FILE).is_file():
            from .compression import StudentModel  # compression imports this module

            return StudentModel.load(directory)
        if not (directory / "meta.json").is_file():
            raise FileNotFoundError(
                f"no saved model in '{directory}': pass a directory written by TrainedModel.save"
            )
        meta = json.loads((directory / "meta.json").read_text())
        config = TrainingConfig.model_validate_json((directory / "config.json").read_text())
        task = TaskSpec.model_validate_json((directory / "task.json").read_text())
        with open(directory / "preprocessor.pkl", "rb") as fh:
            preprocessor = pickle.load(fh)
        if (directory / "model.pkl").is_file():
            with open(directory / "model.pkl", "rb") as fh:
                return cls(task, config, preprocessor, pickle.load(fh))
        cards = preprocessor.categorical_cardinalities if meta.get("embeds_categories") else None
        model = build_model(config.model, meta["n_inputs"], meta["n_outputs"],
                            categorical_cardinalities=cards)
        model.load_state_dict(torch.load(directory / "model.pt", map_location="cpu",
                                         weights_only=True))
        return cls(task, config, preprocessor, model)


def matrix_scores(model: nn.Module | Any, X: np.ndarray, preprocessor: Preprocessor) -> np.ndarray:
    """Scores of a network or fitted tree estimator for an encoded matrix `X`.

    Classification: softmax of the network's outputs, or the estimator's probabilities
    placed in the preprocessor's class columns. Regression: decoded to the original scale.
    """
    classes = preprocessor.classes
    if isinstance(model, nn.Module):
        out = _network_outputs(model, X, len(classes) if classes is not None else 1)
        if classes is not None:
            return torch.softmax(torch.from_numpy(out), dim=1).numpy()
        return preprocessor.decode_target(out[:, 0])
    return tree_scores(model, X, preprocessor)


@torch.inference_mode()  # cheaper than no_grad: no version counters (serving's hot path)
def _network_outputs(model: nn.Module, X: np.ndarray, n_outputs: int) -> np.ndarray:
    X = torch.from_numpy(np.require(X, np.float32, ["C"]))
    if model.training:
        model.eval()
    device = next(model.parameters()).device
    if len(X) <= _CHUNK:
        return model(X.to(device)).float().cpu().numpy()
    chunks = [model(X[i:i + _CHUNK].to(device)).float().cpu() for i in range(0, len(X), _CHUNK)]
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, n_outputs), dtype=np.float32)
