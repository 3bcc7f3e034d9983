"""Pretraining from raw text: a SentencePiece vocabulary with ALBERT's conventions (`vocab`), MLM + SOP instances
with n-gram masking (`instances`, `ngram_masking`), written as shards (`shards`, `builder`)."""
