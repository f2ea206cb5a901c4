"""The credit scorer: indicators, WoE-LDA models, the registry, training and its governance.

See ``docs/scorer.md``. Scoring at run time is bin lookup and a dot product
(``engine.scoring.model``); training (``engine.scoring.training``) fits the
same artifact with optbinning and scikit-learn and refuses to publish a model
that fails the master-scale checks.
"""
