"""mlpilot.guardrails"""
