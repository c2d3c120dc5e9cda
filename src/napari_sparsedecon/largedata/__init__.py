"""largedata."""
