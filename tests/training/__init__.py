"""Tests of tuner.training."""
