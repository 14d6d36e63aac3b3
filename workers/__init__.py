"""RQ jobs by area (processing, outgoing, sweeper), the worker loop (runner) and the periodic schedule."""
