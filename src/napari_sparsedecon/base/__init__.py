"""The bottom layer: validation and dtype policy, machine resources (memory).

Imports nothing else of the package; every other layer may import it.
"""
