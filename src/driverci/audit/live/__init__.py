"""Live evaluation: facts kept in memory and one CI re-judged in milliseconds per event."""
