"""Errors that end a job with one line for the user, defined apart from the roles that raise
them: the CLI catches them in every command, and `mlpilot plan` must not load the training
stack (PyTorch, MLflow) that the fault doctor imports.
"""

from __future__ import annotations


class TrainingFailed(RuntimeError):
    """Training kept failing after every fix the doctor could try."""
