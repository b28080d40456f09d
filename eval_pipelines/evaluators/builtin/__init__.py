"""The packaged evaluators, one module each: its functions, settings models and ``EVALUATORS`` entries."""
