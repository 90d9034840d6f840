"""The composition root: the `einklang` command line and the wiring of store, projections and
adapters into the engine process. The only package that imports all the others."""
