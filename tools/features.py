"""Tools over generated feature transforms: saving approved ones with a model.

Code saved with a model runs at every prediction (in the sandbox): `serve_feature_code`
is high risk, and the approval gate asks a human first (`agent.approval.approve_features`;
for code a model wrote the gate raises the risk to "critical": never pre-approved).
"""

from __future__ import annotations

from pathlib import Path

from mlpilot.engine.features import FeaturePipeline, attach_features
from mlpilot.tools.base import declare_risk


@declare_risk("high")
def serve_feature_code(model_dir: Path, pipeline_dir: Path) -> Path:
    """Save the approved, fitted transforms in `pipeline_dir` with the model whose files are
    in `model_dir/model`, so that `TrainedModel.load(model_dir)` applies them."""
    return attach_features(Path(model_dir), FeaturePipeline.load(Path(pipeline_dir)))
