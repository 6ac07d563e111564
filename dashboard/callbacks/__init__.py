"""Thin callbacks: parse input, check the role, call data/, hand the result to a builder."""
