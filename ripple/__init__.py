"""Ripple: game commentary from game states, videos and live games."""

__version__ = "0.1.0"
