"""Postroom's benchmarks: `make bench`, or `python -m bench [--quick] [push ingress initial idle]`.

Each benchmark builds its own Postroom installation (a fresh data dir and database,
migrated by `postroom migrate`) and its own private Dovecot, drives real `postroom`
subprocesses, measures a bare client against the same Dovecot in the same run as the
baseline, prints one table, and stops every process it started. Figures never fail
the run: a missed goal is printed as such.
"""
