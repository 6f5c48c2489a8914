"""Policy: the spec's rules as data (deadlines, branches, exclusions, thresholds, milestones)."""
