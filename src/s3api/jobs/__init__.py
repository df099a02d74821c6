"""The jobs pipeline: creation, uploads, execution, GPU results and settlement."""
