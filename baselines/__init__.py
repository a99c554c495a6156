"""One module per published generator; importing this package registers them all."""
