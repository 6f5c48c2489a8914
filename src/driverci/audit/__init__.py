"""The judge: collect, parse CI comments, evaluate, verdicts and governance outputs."""
