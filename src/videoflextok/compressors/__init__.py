"""Compressors: the frozen maps between pixels and the latent space the tokenizer works in (patchify, our VAE,
the released checkpoints' VidTok VAE), their config and how one is built from it."""
