"""ZZIK Ops Bot: the ZZIK LIVE Operations Manual as a ChatOps Slack bot."""

__version__ = "0.1.0"
