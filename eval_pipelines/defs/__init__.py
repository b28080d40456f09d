"""The Dagster layer: thin assets, checks, sensors and resources over the domain modules."""

import warnings

import dagster as dg

# BackfillPolicy is beta in Dagster 1.13: its warning would repeat in the log of every step's process.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
