"""RQ jobs (module-level functions taking ids) and the periodic schedule."""
