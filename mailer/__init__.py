"""Everything that speaks email: inbound edges, parsing, the ingest pipeline, outbound mail."""
