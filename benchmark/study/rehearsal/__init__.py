"""Rehearsing a grid at its real data scale on a machine without its GPUs: every stage's real code on stand-in
data of the real sizes, with tiny random-init models of the grid's architectures and a few steps per stage,
through the chosen executor; then each stage's cost projected to the real models on a given GPU."""
