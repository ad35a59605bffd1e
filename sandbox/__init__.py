"""mlpilot.sandbox"""
