"""mlpilot.agent"""
