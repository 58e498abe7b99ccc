"""Routing that learns from outcomes: outcome data, the routing curve, learned scorers,
training, evaluation and collection of new outcomes from live traffic."""
