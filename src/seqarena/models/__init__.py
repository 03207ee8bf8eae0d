"""Backbones ((B, T, D) -> (B, T, D)) and whole-window forecasters, all behind one contract (see base.py)."""

from seqarena.models.base import Capabilities, ForecastSpec, SequenceModel, State

__all__ = ["Capabilities", "ForecastSpec", "SequenceModel", "State"]
