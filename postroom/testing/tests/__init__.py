"""Tests of the test helpers themselves, against the real servers."""
