"""GRADMM (Nguyen et al., ICML 2025) as a library: synthetic texts whose LM-head gradient matches real data's.

Imports nothing of the harness (only torch, transformers, numpy and ``dilm``'s own helpers), like ``dilm``.
"""
