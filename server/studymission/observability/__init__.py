"""What an operator sees of a running process: structured logs and Prometheus metrics."""
