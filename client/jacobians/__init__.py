"""Jacobian machinery: structural sparsity and colourings (`sparsity`), sweeps of directions
(`sweeps`) and their memory budget (`chunking`)."""
