"""Isolated execution of generated code (bubblewrap + rlimits + cgroups).

Not built yet: no agent writes code so far. See DESIGN.md.
"""
