"""Frozen pretrained video compressors (VAEs) the released tokenizers were trained on."""
