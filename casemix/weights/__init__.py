"""Relative weights, base points, CV and RIV learned from grouped history (fit, then apply)."""

from casemix.weights.calibration import WeightCalibrator, Weights, history_frame, history_of, riv

__all__ = ["WeightCalibrator", "Weights", "history_frame", "history_of", "riv"]
