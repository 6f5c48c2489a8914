"""Reading one review message: which CI wrote it, its header, result, job lines, rechecks."""
