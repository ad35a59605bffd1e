"""A trained model ready for new raw rows: predict, predict_proba, save and load.

A saved model is a directory: `model.pt` (state_dict), `preprocessor.pkl`, and
`config.json`, `task.json`, `meta.json`. The preprocessor is a pickle, so load only
directories you trust (your own runs).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .config import TaskSpec, TrainingConfig
from .models import build_model
from .preprocess import Preprocessor

FORMAT_VERSION = 1
_CHUNK = 65536


class TrainedModel:
    """A network with the preprocessor that feeds it, the task and the config it came from."""

    def __init__(self, task: TaskSpec, config: TrainingConfig, preprocessor: Preprocessor,
                 model: nn.Module):
        self.task = task
        self.config = config
        self.preprocessor = preprocessor
        self.model = model.eval()

    @property
    def classes(self) -> list | None:
        """Class labels in the order of `predict_proba` columns; None for regression."""
        return self.preprocessor.classes

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Class labels or original-scale values for the rows of a raw DataFrame.

        Extra columns are ignored; missing feature columns count as missing values.
        """
        out = self._outputs(df)
        if self.task.is_classification:
            return self.preprocessor.decode_target(out.argmax(axis=1))
        return self.preprocessor.decode_target(out[:, 0])

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities (rows x classes, in `classes` order); None for regression."""
        if not self.task.is_classification:
            return None
        return torch.softmax(torch.from_numpy(self._outputs(df)), dim=1).numpy()

    def save(self, directory: str | Path) -> Path:
        """Write the model to `directory` (created if needed) and return its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        first = next(iter(self.model.parameters()))
        last = list(self.model.parameters())[-1]
        meta = {"format": FORMAT_VERSION, "n_inputs": int(first.shape[1]),
                "n_outputs": int(last.shape[0]), "classes": self.classes}
        torch.save({k: v.cpu() for k, v in self.model.state_dict().items()}, directory / "model.pt")
        with open(directory / "preprocessor.pkl", "wb") as fh:
            pickle.dump(self.preprocessor, fh)
        (directory / "config.json").write_text(self.config.model_dump_json(indent=2))
        (directory / "task.json").write_text(self.task.model_dump_json(indent=2))
        (directory / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TrainedModel:
        """Read a model written by `save` (on the CPU)."""
        directory = Path(directory)
        if not (directory / "meta.json").is_file():
            raise FileNotFoundError(
                f"no saved model in '{directory}': pass a directory written by TrainedModel.save"
            )
        meta = json.loads((directory / "meta.json").read_text())
        config = TrainingConfig.model_validate_json((directory / "config.json").read_text())
        task = TaskSpec.model_validate_json((directory / "task.json").read_text())
        with open(directory / "preprocessor.pkl", "rb") as fh:
            preprocessor = pickle.load(fh)
        model = build_model(config.model, meta["n_inputs"], meta["n_outputs"])
        model.load_state_dict(torch.load(directory / "model.pt", map_location="cpu",
                                         weights_only=True))
        return cls(task, config, preprocessor, model)

    @torch.no_grad()
    def _outputs(self, df: pd.DataFrame) -> np.ndarray:
        X = torch.from_numpy(self.preprocessor.transform(df))
        self.model.eval()
        device = next(self.model.parameters()).device
        n_out = list(self.model.parameters())[-1].shape[0]
        chunks = [self.model(X[i:i + _CHUNK].to(device)).float().cpu()
                  for i in range(0, len(X), _CHUNK)]
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, n_out), dtype=np.float32)
