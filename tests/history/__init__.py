"""Histories under faults: many clients, recorded operations, a checker with a model.

``python -m tests.history --minutes M --seed S`` runs one; ``pytest -m history`` runs the
short form. Nothing here imports the library at package import: a client process skews
its clock before the library reads it.
"""
