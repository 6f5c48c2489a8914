"""Fetching CI result links safely and judging them against infra's artifact rules."""
