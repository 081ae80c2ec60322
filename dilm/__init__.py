"""DiLM (Maekawa et al., NAACL 2024 Findings) as a library of its own: generator, gradient matching,
sampling and representative selection. It imports neither ``benchmark`` nor ``methods``.
"""
