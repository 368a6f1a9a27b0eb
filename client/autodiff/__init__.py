"""Derivatives as graph transformations: forward and reverse mode (`transform`), their
simplification (`simplify`), and second order (`hessian`)."""
