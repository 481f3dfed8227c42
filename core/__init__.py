"""pricebot domain: model, commands, alert rules and services, free of I/O libraries."""
