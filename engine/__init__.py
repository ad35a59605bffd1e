"""mlpilot.engine"""
