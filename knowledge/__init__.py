"""mlpilot.knowledge: what the platform has learned about training faults.

- `kb`: `KnowledgeBase` (embedded ChromaDB) of error signature -> diagnosis -> fix -> outcome.
- `patches`: `apply_patch`, the dotted-path language fixes are written in.
- `embeddings`: offline embedding functions (`HashingEmbedding`, `MiniLMEmbedding`).
- `seeds/*.json`: the entries every new knowledge base starts with.

Import the submodules directly; this package imports nothing so that `patches` stays cheap.
"""
