"""An example dilm-bench plugin: the tfidf-prototypes method."""
