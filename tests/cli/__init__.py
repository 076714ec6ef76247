"""Tests of the tessera command-line tool."""
