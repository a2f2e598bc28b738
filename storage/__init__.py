"""The storage layer: the Chroma chunk store and the feedback store, below every feature."""
