"""Retrieval: chunking, embedders (the local model by default, OpenAI when configured), the pgvector store, hybrid
search and reindexing."""
