"""Shared plumbing of the workshop scripts: command-line flags, data, downloads, reports.

The experiment scripts at the top of the repository are the lessons; this package holds what
they have in common, once, so that each script reads top to bottom as its lesson.
"""
