"""Tests of tuner.cli."""
