"""The engine: one asyncio scheduler that asks models for samples and stores them."""
