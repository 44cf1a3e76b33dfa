"""Pulumi program of the formance-auth project: see formance_provider/program.py."""

from formance_provider.program import run

run()
