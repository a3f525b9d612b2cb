"""The operators' guide's Python API, for code that embeds the pipeline.

    orchestrator = ProwziOrchestrator(config=get_config())
    result = await orchestrator.run_research(prompt="...")
    session_id = result.metadata["session_id"]

Runs happen in this process, on a worker thread, through the same code and
the same database rows as queued runs.
"""

from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async

from research.checkpoints import CheckpointManager
from research.config import ProwziConfig, get_config
from research.models import ResearchSession, SessionStatus
from research.pipeline import run_session
from research.schemas import WorkflowCheckpoint
from research.sessions import create_session, find_session, request_resume


@dataclass
class ResearchResult:
    report: str
    status: str
    error: str
    metadata: dict[str, Any] = field(default_factory=dict)
    checkpoint: WorkflowCheckpoint | None = None

    @property
    def success(self) -> bool:
        return self.status == SessionStatus.COMPLETED


class ProwziOrchestrator:
    def __init__(self, config: ProwziConfig | None = None) -> None:
        self.config = config or get_config()
        self.checkpoint_manager = CheckpointManager()

    async def run_research(
        self, prompt: str, options: dict[str, Any] | None = None
    ) -> ResearchResult:
        """Run a new session to its end and return its report and metadata."""
        session = await sync_to_async(create_session)(
            prompt, options, checkpointing=self.config.enable_checkpointing
        )
        return await sync_to_async(self._run, thread_sensitive=False)(session.id)

    async def resume_from_checkpoint(self, checkpoint_id: str) -> ResearchResult:
        """Resume the session named by checkpoint_id (its session id or prefix)."""
        session = await sync_to_async(find_session)(checkpoint_id)
        session = await sync_to_async(request_resume)(session)
        return await sync_to_async(self._run, thread_sensitive=False)(session.id)

    def _run(self, session_id: Any) -> ResearchResult:
        from django.db import connection

        try:
            run_session(session_id, self.config)
            return self._result(ResearchSession.objects.get(pk=session_id))
        finally:
            connection.close()

    def _result(self, session: ResearchSession) -> ResearchResult:
        checkpoint = None
        if session.checkpointing:
            checkpoint = self.checkpoint_manager.load_checkpoint(str(session.id))
        return ResearchResult(
            report=session.report,
            status=session.status,
            error=session.error,
            metadata={
                "session_id": str(session.id),
                "status": session.status,
                "runs": session.runs,
            },
            checkpoint=checkpoint,
        )
