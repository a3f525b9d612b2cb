"""Running the engine's stages in-process for the engine tests."""

from pydantic import BaseModel

from research.corpus import Corpus
from research.engine import RUNNERS
from research.schemas import ResearchOptions
from research.stages import STAGES, StageInput

LITERATURE_REVIEW = "Write a literature review on renewable energy and the power grid"
ABSENT_SUBJECTS = (
    "Write a literature review on the mating habits of Martian sand worms "
    "in the Zorblax nebula",
    "Write a literature review on the mating rituals of Martian sand worms "
    "in the Zorblax nebula",
)


def run_stages(
    prompt: str,
    corpus: Corpus,
    options: ResearchOptions | None = None,
    until: str = "turnitin",
) -> dict[str, BaseModel]:
    """Run the stages in order up to and including `until`."""
    results: dict[str, BaseModel] = {}
    for stage in STAGES[: STAGES.index(until) + 1]:
        stage_input = StageInput(
            prompt=prompt,
            options=options or ResearchOptions(),
            corpus=corpus,
            results=dict(results),
        )
        results[stage] = RUNNERS[stage](stage_input)
    return results
