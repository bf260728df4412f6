"""Validation against published end-to-end measurements (kept in reference/ with sources).

Nothing here is fitted: each case is simulated with the profiles as they are and compared.
"""
