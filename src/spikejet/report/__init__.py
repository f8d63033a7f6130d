"""Reporting: figure style, plots, the comparison table and the HTML report."""
