"""The Fashion-MNIST IDX files: found, checked against their digests, parsed and split."""
