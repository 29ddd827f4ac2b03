"""Reading stored studies: DataFrames, terminal tables, plots, exports, the HTML report,
prediction galleries, a stored trial's weights scored again, and the live dashboard.

Modules are imported by name (``tuner.reports.export``...); this package's import is free.
"""
