"""Chunking with the local model's own tokenizer: token limits, paragraph and sentence boundaries, overlap, and the
plain text of uploads."""

from __future__ import annotations

import itertools

from rag.chunking import chunk_text, paragraphs, sentences
from rag.documents import html_to_text

SENTENCE = "The courier collects parcels from the workshop at four o'clock every weekday afternoon."


def test_chunks_respect_the_token_limit_and_keep_short_paragraphs_whole(embedder):
    paras = [" ".join([SENTENCE.replace("four", str(n))] * (1 + n % 3)) for n in range(12)]
    chunks = chunk_text("\n\n".join(paras), embedder.count_tokens, max_tokens=80, overlap_tokens=16)
    assert all(n <= 80 for n in embedder.count_tokens([c.text for c in chunks]))
    for paragraph in paras:  # each fits in a chunk, so each lies whole inside exactly one chunk
        assert sum(paragraph in c.text for c in chunks) == 1
    assert [c.no for c in chunks] == list(range(len(chunks)))


def test_a_long_paragraph_splits_between_sentences_with_overlap(embedder):
    long = " ".join(f"Step {n}: {SENTENCE}" for n in range(20))
    chunks = chunk_text(long, embedder.count_tokens, max_tokens=60, overlap_tokens=25)
    assert len(chunks) > 3
    for previous, current in itertools.pairwise(chunks):
        assert sentences(current.text)[0] in previous.text  # the next chunk repeats the previous one's last sentence
        assert current.text.startswith("Step ")  # never in the middle of a sentence
    covered = {s for c in chunks for s in sentences(c.text)}
    assert covered == set(sentences(long))


def test_a_sentence_longer_than_a_chunk_splits_between_words(embedder):
    run_on = " ".join(f"item{n} leather wallet black" for n in range(300))  # no sentence end at all
    chunks = chunk_text(run_on, embedder.count_tokens, max_tokens=100, overlap_tokens=20)
    assert len(chunks) > 5 and all(n <= 100 for n in embedder.count_tokens([c.text for c in chunks]))
    assert " ".join(c.text for c in chunks).split() == run_on.split()


def test_equal_text_has_equal_hashes_and_empty_text_no_chunks(embedder):
    a = chunk_text("One.\n\nTwo.", embedder.count_tokens)
    b = chunk_text("One.\n\nTwo.", embedder.count_tokens)
    assert [c.hash for c in a] == [c.hash for c in b] and chunk_text("  \n\n ", embedder.count_tokens) == []


def test_html_becomes_paragraphs_without_scripts_or_styles():
    text = html_to_text(
        "<style>p{x:1}</style><h2>Care</h2><p>Wipe it&nbsp;dry.<br>Use balm.</p>"
        "<script>alert(1)</script><ul><li>Wax</li><li>Cloth</li></ul>"
    )
    assert paragraphs(text) == ["Care", "Wipe it dry.", "Use balm.", "Wax", "Cloth"]
