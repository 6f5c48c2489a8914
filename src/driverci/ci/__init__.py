"""The reference third-party CI: listen, decide, queue, execute, publish, report."""
