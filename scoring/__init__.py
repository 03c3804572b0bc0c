"""scoring: the rule model, the pure engine, grades, lifecycle stages and explanations.

Pure: no network, no SQLite, no clock (callers pass `as_of`); imports nothing of leadsync's
outside itself. Reading a model file is the one I/O, and only at `load(path)`.

    from scoring import load, score, explain
    model = load("model.toml")            # or load() for the starter model
    result = score(contact, events, company, model, as_of)
"""
from scoring.engine import Event, Reason, Score, event, score, scorer
from scoring.errors import InputError, ModelError, Problem, ScoringError
from scoring.explain import explain
from scoring.model import Model, load, loads, starter_path
from scoring.properties import catalog_from_rows

__all__ = ["Event", "InputError", "Model", "ModelError", "Problem", "Reason", "Score",
           "ScoringError", "catalog_from_rows", "event", "explain", "load", "loads", "score",
           "scorer", "starter_path"]
