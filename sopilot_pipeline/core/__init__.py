"""Pure algorithm library: numpy in, numpy or frozen dataclasses out. No Dagster here."""
