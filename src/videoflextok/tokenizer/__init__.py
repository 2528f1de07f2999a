"""The VideoFlexTok tokenizer: compressor, register encoder, FSQ, nested dropout, flow decoder, chunking."""

from videoflextok.tokenizer.config import CompressorConfig, TokenizerConfig

__all__ = ["CompressorConfig", "TokenizerConfig"]
