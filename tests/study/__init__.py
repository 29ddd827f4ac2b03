"""Tests of tuner.study."""
