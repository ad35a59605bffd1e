"""mlpilot.knowledge"""
