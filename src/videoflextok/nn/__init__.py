"""Building blocks shared by the tokenizer, the VAE and the generators."""
