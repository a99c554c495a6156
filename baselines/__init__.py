"""One module per published generator; ``bench.plugins`` says which registers each name."""
