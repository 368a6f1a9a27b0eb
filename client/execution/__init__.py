"""The execution layer: plans over NumPy (`plan`) and the in-process engine (`engine`)."""
