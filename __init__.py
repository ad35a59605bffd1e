"""mlpilot: AutoML driven by LLM agents."""
__version__ = "0.1.0"
