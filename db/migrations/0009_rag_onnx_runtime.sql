-- The local model now runs on ONNX Runtime, and the runtime is part of an index's identity (rag/embedders.py,
-- LOCAL_MODEL): torch-made and ONNX-made vectors differ a little and never share an index.
-- The index 0003 seeded is renamed only while it holds no vectors (a fresh installation); an index that torch
-- already filled keeps its name, so the gateway answers that it was built with another model and
-- `bizosaas rag reindex` rebuilds it with the ONNX model (keyword search keeps working meanwhile).
UPDATE rag_indexes SET model = 'local/all-MiniLM-L6-v2@onnx'
WHERE model = 'local/all-MiniLM-L6-v2'
  AND NOT EXISTS (SELECT 1 FROM rag_chunks c WHERE c.index_id = rag_indexes.id);
