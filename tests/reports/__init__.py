"""Tests of tuner.reports."""
