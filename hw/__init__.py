"""Amaranth components of the tessera accelerators.

Only gateware lives here: no simulator imports, no NumPy in the elaboration path. Every component
validates its parameters at construction and states its timing contract in its docstring.
"""
