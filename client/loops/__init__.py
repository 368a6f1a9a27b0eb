"""Loops and branches in graphs: the control-flow ops' layouts and shape rules (`constructs`),
running and pricing them (`running`), their derivative rules (`derivatives`), checkpointed
reverse sweeps (`checkpointing`) and sparsity patterns (`patterns`). See docs/control-flow.md;
the SDK's functions are in `wengert.control_flow`."""
