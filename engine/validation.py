"""Scoring a network on the validation rows during training: its loss, and the task's
metric on decoded labels or values (what early stopping and the search compare)."""

from __future__ import annotations

import math

import torch

from . import metrics
from .config import TaskSpec
from .preprocess import PreparedData

#: Rows scored per forward pass, so that a large validation set fits in memory.
_EVAL_CHUNK = 65536


class ValidationScorer:
    """Validation loss and `task.metric` on decoded labels/values for the current weights.

    Call it with the model, the validation inputs and targets as tensors, and the loss;
    it returns (loss, score), the score NaN when the loss is not finite.
    """

    def __init__(self, data: PreparedData, task: TaskSpec):
        self.task = task
        self.pre = data.preprocessor
        self.y_true = self.pre.decode_target(data.y_valid)

    @torch.no_grad()
    def __call__(self, model, X, y, loss_fn) -> tuple[float, float]:
        model.eval()
        out = torch.cat([model(X[i:i + _EVAL_CHUNK]) for i in range(0, len(X), _EVAL_CHUNK)])
        valid_loss = loss_fn(out, y).item()
        if not math.isfinite(valid_loss):
            return valid_loss, math.nan
        proba = None
        if self.task.is_classification:
            y_pred = self.pre.decode_target(out.argmax(dim=1).cpu().numpy())
            if self.task.metric == "roc_auc":
                proba = torch.softmax(out.float(), dim=1).cpu().numpy()
        else:
            y_pred = self.pre.decode_target(out.squeeze(-1).cpu().numpy())
        score = metrics.score(self.task.metric, self.task.task_type, self.y_true, y_pred, proba,
                              classes=self.pre.classes)
        return valid_loss, score
