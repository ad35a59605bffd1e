"""mlpilot.prompts"""
