"""Benchmarks of driverci (`make bench`)."""
