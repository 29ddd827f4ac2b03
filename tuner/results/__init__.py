"""Results: reading stored studies as evidence, and the one winner rule.

Below both ``tuner.study`` (a campaign freezes winners, the dashboard note names the best
so far) and ``tuner.reports`` (tables mark the winner and its ties), so that both read a
study the same way. Modules are imported by name (``tuner.results.winner``).
"""
