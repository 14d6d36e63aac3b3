"""SLA clocks: business-time arithmetic and the service-level rules built on it."""
