"""Building blocks shared across families."""
