"""Run LocalStack's Lambda functions as local processes, without Docker (see plugin.py)."""
