"""Pretraining against HF transformers: a vocabulary trained by `albert vocab` loads in HF's `AlbertTokenizer`
(the reference; its fast converter differs from it on this vocabulary as on the released one) with the same
ids as ours on real text."""

from __future__ import annotations

import transformers

from albert_core.pretraining.sample_corpus import write_sample_corpus
from albert_core.pretraining.vocab import train_vocab
from albert_core.tokenizer import AlbertTokenizer


def test_a_trained_vocabulary_gives_hf_the_same_ids(tmp_path):
    corpus = write_sample_corpus(tmp_path / "stdlib.txt")
    train_vocab(corpus, vocab_size=2000, output_dir=tmp_path / "vocab")
    ours = AlbertTokenizer.from_pretrained(tmp_path / "vocab")
    slow = transformers.AlbertTokenizer.from_pretrained(tmp_path / "vocab")
    lines = corpus.read_text(encoding="utf-8").split("\n")[:2000]
    lines += ["Déjà vu: ``QUOTED'' text, £5 and 3,000 [MASK] pieces.", "  Spaces\tand\nnewlines  "]
    expected = slow(lines)["input_ids"]
    assert ours(lines, return_tensors=None)["input_ids"] == expected
    assert [slow.convert_ids_to_tokens(i) for i in range(5)] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
