"""Tests of the golden models (golden/)."""
