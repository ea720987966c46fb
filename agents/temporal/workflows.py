"""AgentRun (id `agent-run:{tenant}:{agent}:{subject}`, started by signal-with-start): one run of a specialist about
one subject. Deterministic and free of I/O: every effect is an activity called by name.

coalesce (sleep `agent_coalesce_s`; `trigger` signals meanwhile are counted, once per trigger id) → admit (the
tenant's concurrency and daily tokens; over: agent.run.deferred with the reason, ask again later) → started → the
crew (gather context, run, validate with one repair: one activity that heartbeats) → for an agent that acts, its
proposed actions: allow-listed ones at once when the tenant allows it, the rest after a person's `decide` update
(or `expired`) → completed (or failed with the reason). Triggers that arrive after the window closed run next, as
a new run of the same workflow id (continue-as-new).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from agents.allowlist import allowed_without_approval
    from agents.temporal.shared import (
        DECIDE_UPDATE,
        RUN_WORKFLOW,
        STATE_QUERY,
        TRIGGER_SIGNAL,
        Admission,
        CrewInput,
        CrewResult,
        Decision,
        FinishInput,
        IssueInput,
        Policy,
        PublishInput,
        RunInput,
        RunRef,
        TriggerIn,
        run_id_of,
    )

SHORT = timedelta(seconds=30)
HEARTBEAT_TIMEOUT = timedelta(seconds=20)  # a worker killed mid-crew: the crew runs again elsewhere this soon
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
CREW_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2)  # one more after a lost worker


def _reason(exc: BaseException) -> str:
    cause = exc.cause if isinstance(exc, ActivityError) and exc.cause else exc
    return cause.message if isinstance(cause, ApplicationError) else str(cause)


@workflow.defn(name=RUN_WORKFLOW)
class AgentRunWorkflow:
    def __init__(self) -> None:
        self.triggers: list[TriggerIn] = []
        self.late: list[TriggerIn] = []  # arrived after the window closed: the next run's
        self.seen: set[str] = set()
        self.window_open = True
        self.state = "coalescing"
        self.decision: Decision | None = None

    @workflow.signal(name=TRIGGER_SIGNAL)
    def trigger(self, trigger: TriggerIn) -> None:
        new = [i for i in trigger.ids() if i not in self.seen]  # a redelivered trigger (or folded ids) counts once
        if not new:
            return
        self.seen.update(new)
        if new != trigger.ids():
            trigger = TriggerIn(new[0], trigger.source, trigger.prompt, trigger.inputs, new[1:])
        (self.triggers if self.window_open else self.late).append(trigger)

    @workflow.update(name=DECIDE_UPDATE)
    def decide(self, decision: Decision) -> str:
        self.decision = decision
        return "approved" if decision.approved else "rejected"

    @decide.validator
    def _only_while_waiting(self, decision: Decision) -> None:
        if self.state != "awaiting_approval" or self.decision is not None:
            raise ApplicationError(f"is not awaiting approval (it is {self.state})")

    @workflow.query(name=STATE_QUERY)
    def current_state(self) -> str:
        return self.state

    async def _do(self, name: str, arg, result_type=None):
        return await workflow.execute_activity(
            name, arg, result_type=result_type, start_to_close_timeout=SHORT, retry_policy=RETRY
        )

    @workflow.run
    async def run(self, input: RunInput) -> str:
        for carried in input.pending:
            self.trigger(carried)
        info = workflow.info()
        run_id = run_id_of(info.workflow_id, info.run_id)
        ref = RunRef(input.tenant_id, input.agent, run_id)
        policy: Policy = await self._do("agents.load_policy", ref, Policy)
        await workflow.sleep(timedelta(seconds=policy.coalesce_s))
        self.window_open = False
        source = next((t.source for t in self.triggers if t.source), "") or "agents"

        async def publish(kind: str, suffix: str = "", **fields) -> None:
            fields = {"run_id": run_id, "agent": input.agent, **fields}
            await self._do("agents.publish", PublishInput(input.tenant_id, run_id, kind, fields, suffix, source))

        self.state, deferrals, last_reason = "admitting", 0, ""
        while not (admission := await self._do("agents.admit", ref, Admission)).admitted:
            if admission.reason != last_reason:  # one event per new reason, not one per retry
                deferrals, last_reason = deferrals + 1, admission.reason
                await publish("deferred", str(deferrals), reason=admission.reason)
            self.state = "deferred"
            await workflow.sleep(timedelta(seconds=policy.defer_retry_s))
        first = self.triggers[0] if self.triggers else TriggerIn("")
        inputs = {k: v for t in self.triggers for k, v in t.inputs.items()}
        self.state = "running"
        started = workflow.now()
        subject = {"subject_kind": input.subject_kind, "subject_external_id": input.subject_external_id}
        count = sum(len(t.ids()) for t in self.triggers)
        await publish("started", trigger_id=first.trigger_id, triggers=count, inputs=inputs, **subject)
        crew = CrewInput(
            input.tenant_id,
            input.agent,
            run_id,
            input.subject_kind,
            input.subject_external_id,
            [t.prompt for t in self.triggers if t.prompt],
            inputs,
        )
        try:
            result: CrewResult = await workflow.execute_activity(
                "agents.run_crew",
                crew,
                result_type=CrewResult,
                start_to_close_timeout=timedelta(seconds=policy.run_timeout_s),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=CREW_RETRY,
            )
        except ActivityError as exc:
            result = CrewResult({}, error=_reason(exc))
        latency_ms = int((workflow.now() - started).total_seconds() * 1000)
        tokens = result.tokens_in + result.tokens_out
        done = FinishInput(input.tenant_id, input.agent, run_id, tokens, bool(result.error), latency_ms)
        await self._do("agents.release", done)
        usage = {"tokens_in": result.tokens_in, "tokens_out": result.tokens_out}
        usage |= {"cost_micro_usd": result.cost_micro_usd, "latency_ms": latency_ms}
        if result.error:
            self.state = "failed"
            await publish("failed", error=result.error, **usage)
        else:
            decision, commands = await self._act(input, run_id, policy, result, source, publish)
            self.state = "completed"
            await publish(
                "completed",
                output=result.output,
                citations=result.citations,
                decision=decision,
                commands=commands,
                **usage,
            )
        if self.late:
            workflow.continue_as_new(
                RunInput(input.tenant_id, input.agent, input.subject_kind, input.subject_external_id, self.late)
            )
        return self.state

    async def _act(self, input: RunInput, run_id: str, policy: Policy, result: CrewResult, source, publish):
        """The proposed actions of an agent that acts: (decision, command ids)."""
        actions = (result.output.get("actions") or []) if policy.autonomy == "act" else []
        if not actions:
            return "", []
        now_ok = [a for a in actions if policy.act_without_approval and allowed_without_approval(a)]
        waiting = [a for a in actions if a not in now_ok]
        commands: list[str] = []
        decision = ""
        if now_ok:
            issue = IssueInput(input.tenant_id, input.agent, run_id, source, now_ok, f"agent:{input.agent}", "auto")
            commands += await self._do("agents.issue_actions", issue, list[str])
            decision = "auto"
        if not waiting:
            return decision, commands
        self.state = "awaiting_approval"
        expires = workflow.now() + timedelta(seconds=policy.approval_expiry_s)
        await publish(
            "awaiting_approval",
            output=result.output,
            actions=waiting,
            citations=result.citations,
            expires_at=expires.isoformat(),
        )
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None, timeout=timedelta(seconds=policy.approval_expiry_s)
            )
        except TimeoutError:
            self.state = "expired"
            return "expired", commands
        assert self.decision is not None
        if not self.decision.approved:
            return "rejected", commands
        issue = IssueInput(input.tenant_id, input.agent, run_id, source, waiting, self.decision.by, "approved")
        commands += await self._do("agents.issue_actions", issue, list[str])
        return "approved", commands
