"""Customer-service assistant: answers grounded in the shop's policies, catalogue and the customer's
own orders, with a hand-off to a person (docs/assistant.md)."""

from marketpilot.assistant.answer import AssistantReply, Turn, answer_question

__all__ = ["AssistantReply", "Turn", "answer_question"]
