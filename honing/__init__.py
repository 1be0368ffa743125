"""honing: optimize any text artifact with LLM reflection on rich evaluation feedback."""
