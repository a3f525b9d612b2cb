"""The model engine: intent, planning, writing and evaluation by a language
model behind an OpenAI-compatible chat-completions endpoint.

It runs only when PROWZI_LLM_MODEL is set; otherwise the offline engine runs
and nothing here touches the network.
"""

from research.llm.config import enabled

__all__ = ["enabled"]
