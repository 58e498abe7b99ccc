"""Offline replay: run recorded or synthetic traffic through the live decision pipeline and
compare policies on quality kept versus cost and share sent to the strong tier.

Modules: `trace` (JSONL format and loading), `synth` (seeded synthetic traces), `scoring`
(complexity scored once per prompt, optionally in worker processes), `runner` (the router's
own pipeline plus baselines), `report` (aggregation, sweep, Pareto, AUC, exports), `cli`.
"""
