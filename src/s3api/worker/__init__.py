"""GPU worker: claims job items, runs the image engine, uploads results."""
