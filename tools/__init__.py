"""mlpilot.tools"""
