"""Retrieval: chunking, embedders (local model by default, OpenAI when configured), the pgvector store and hybrid search."""
