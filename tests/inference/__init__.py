"""Tests of tuner.inference."""
