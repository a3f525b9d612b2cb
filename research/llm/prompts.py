"""The messages sent to the model for each stage.

Every system message opens with "Task: STAGE." so that a log or a proxy shows
at a glance which stage a request belongs to.
"""

import json

from pydantic import BaseModel

from research.llm.client import Message
from research.schemas import IntentAnalysis, ResearchOptions, ResearchPlan

LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "fr": "French"}


def _system(stage: str, role: str, answer: type[BaseModel]) -> Message:
    schema = json.dumps(answer.model_json_schema(), separators=(",", ":"))
    return {
        "role": "system",
        "content": (
            f"Task: {stage}.\n{role}\n\nAnswer with one JSON object and nothing "
            f"else, matching this JSON schema:\n{schema}"
        ),
    }


def intent(
    prompt: str, options: ResearchOptions, answer: type[BaseModel]
) -> list[Message]:
    chosen = options.model_dump(exclude_defaults=True, mode="json")
    return [
        _system(
            "intent",
            "You analyse a request for a research document: which kind of "
            "document it asks for, its topic in a few words, the key concepts "
            "to search for, the language to write in (en, es or fr), and any "
            "constraints it states (length in words, citation style, period, "
            "audience). Leave a constraint null when the request does not state "
            "it.",
            answer,
        ),
        {
            "role": "user",
            "content": (
                f"Request: {prompt}\n\nOptions the user set: {json.dumps(chosen)}"
            ),
        },
    ]


def planning(intent: IntentAnalysis, answer: type[BaseModel]) -> list[Message]:
    return [
        _system(
            "planning",
            "You plan a research document. Give it a title and sections: an "
            "introduction first, a conclusion last, and between them body "
            "sections on distinct themes of the topic. For each section give "
            "its research questions, two or three short search queries that "
            "would find sources on it, and its theme terms. Write titles and "
            f"questions in {LANGUAGE_NAMES[intent.language]}.",
            answer,
        ),
        {"role": "user", "content": f"Intent: {intent.model_dump_json()}"},
    ]


def writing(
    intent: IntentAnalysis,
    plan: ResearchPlan,
    passages: str,
    target_words: int,
    answer: type[BaseModel],
    feedback: str = "",
) -> list[Message]:
    sections = "\n".join(
        f"- {section.title} ({section.kind}): " + " ".join(section.research_questions)
        for section in plan.sections
    )
    revision = (
        f"\n\nA reviewer read the previous draft and asks: {feedback}"
        if feedback
        else ""
    )
    return [
        _system(
            "writing",
            "You write a research document from the numbered sources given and "
            "from nothing else. Rules: cite a source by its number in square "
            "brackets, e.g. [2], right after the sentence or clause it "
            "supports; cite only the numbers listed; every factual sentence "
            "carries a citation; when you quote, copy the source's words "
            "exactly inside “ and ”; when you paraphrase, keep close to the "
            "source's own words. Do not add a references list or section "
            "headings: give each planned section's text, in order, as Markdown "
            f"paragraphs. Write in {LANGUAGE_NAMES[intent.language]}, about "
            f"{target_words} words in all.",
            answer,
        ),
        {
            "role": "user",
            "content": (
                f"Title: {plan.title}\nTopic: {intent.topic}\n\nSections:\n"
                f"{sections}\n\nSources:\n{passages}{revision}"
            ),
        },
    ]


def evaluation(
    intent: IntentAnalysis, plan: ResearchPlan, draft: str, answer: type[BaseModel]
) -> list[Message]:
    questions = "\n".join(
        f"- {section.title}: " + " ".join(section.research_questions)
        for section in plan.body_sections
    )
    return [
        _system(
            "evaluation",
            "You review a research document. Score from 0 to 1, with a short "
            "note each: research_question_coverage (how fully the body answers "
            "its sections' research questions) and readability (clear, "
            "well-organised prose for the audience). In advice, say what a "
            "revision should change, or leave it empty.",
            answer,
        ),
        {
            "role": "user",
            "content": (
                f"Topic: {intent.topic}\nResearch questions:\n{questions}\n\n"
                f"Document:\n{draft}"
            ),
        },
    ]


def repair(answer: str, problem: str) -> list[Message]:
    return [
        {"role": "assistant", "content": answer},
        {
            "role": "user",
            "content": (
                "That answer cannot be used: "
                f"{problem}\nReply again with only the corrected JSON object."
            ),
        },
    ]
