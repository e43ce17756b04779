"""Offline maintenance scripts, run from the repository root (``python
tools/<script>.py``) and never imported by genbench itself: they may use
every layer of it, e.g. training the in-domain classifiers whose weights
:mod:`genbench.features` loads on the tasks' data.
"""
