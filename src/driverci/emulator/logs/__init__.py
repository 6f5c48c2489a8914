"""The emulator's log server: the seeded CIs' artifacts under /logs/."""
