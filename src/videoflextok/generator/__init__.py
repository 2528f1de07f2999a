"""Autoregressive class-to-video and text-to-video generators over VideoFlexTok tokens."""
