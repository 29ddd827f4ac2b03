"""Tests of tuner.data."""
