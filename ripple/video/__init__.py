"""Video in: keyframes and what can be measured of them (frames.py), and contact sheets."""
