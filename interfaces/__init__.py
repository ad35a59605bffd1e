"""mlpilot.interfaces"""
