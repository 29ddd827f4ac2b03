"""Tests of tuner.results."""
