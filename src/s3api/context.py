"""The composition root: every collaborator, built once from the settings.

Only `create_app` and the command line use this; services receive the collaborators they
need, never the whole context.
"""

from __future__ import annotations

from dataclasses import dataclass

from s3api.account.service import AccountService
from s3api.auth.service import AuthService
from s3api.db.engine import Database
from s3api.delivery.service import DeliveryService
from s3api.jobs.analysis.lifecycle import AnalysisLifecycle, AnalysisPolicy
from s3api.jobs.analysis.service import AnalysisService
from s3api.jobs.event_log import JobEventLog
from s3api.jobs.lifecycle import JobLifecycle, StaleJobPolicy
from s3api.jobs.live import JobStreamService, StreamSlots
from s3api.jobs.messages import GPU_JOBS_QUEUE
from s3api.jobs.output_sets.lifecycle import OutputSetLifecycle
from s3api.jobs.output_sets.messages import OutputSetPolicy
from s3api.jobs.output_sets.service import OutputSetService
from s3api.jobs.retention import JobRetention, OrphanedObjectSweep
from s3api.jobs.service import JobsService
from s3api.jobs.upload_admission import JobUploadAdmission
from s3api.notify.changes import ChangeNotifier
from s3api.queue.message_queue import MessageQueue
from s3api.ratelimit.budget import RateLimits
from s3api.rules.service import RulesService
from s3api.scheduled import BackgroundDuties
from s3api.security.tokens import TokenIssuer
from s3api.settings import Settings
from s3api.shares.service import ShareService
from s3api.storage.base import ObjectStorage, UploadAdmission
from s3api.storage.factory import build_storage
from s3api.storage.local import LocalStorage
from s3api.storage.partials import StalePartialSweep
from s3api.storage.s3 import S3Storage
from s3api.users.limits import UserLimiter
from s3api.users.plans import PlanPolicy
from s3api.webhooks.dispatcher import WebhookPolicy
from s3api.webhooks.outbox import WEBHOOKS_QUEUE, WebhookOutbox
from s3api.webhooks.secrets import WebhookSecretService


@dataclass
class AppContext:
    """The service's collaborators; `create_app` puts each on `app.state` by name."""

    settings: Settings
    database: Database
    tokens: TokenIssuer
    storage: ObjectStorage
    upload_admission: UploadAdmission
    queue: MessageQueue
    limiter: UserLimiter
    notifier: ChangeNotifier
    events: JobEventLog
    lifecycle: JobLifecycle
    retention: JobRetention
    auth: AuthService
    account: AccountService
    rules: RulesService
    jobs: JobsService
    analyses: AnalysisService
    output_sets: OutputSetService
    job_streams: JobStreamService
    webhook_policy: WebhookPolicy
    webhook_queue: MessageQueue
    webhook_secrets: WebhookSecretService
    delivery: DeliveryService
    shares: ShareService
    background: BackgroundDuties
    rate_limits: RateLimits

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        """Wire the collaborators for these (already prepared) settings."""
        database = Database(settings.resolved_database_url)
        tokens = TokenIssuer(
            settings.jwt_key,
            settings.jwt_ttl_seconds,
            leeway_seconds=settings.jwt_leeway_seconds,
        )
        storage = build_storage(settings)
        queue = MessageQueue(GPU_JOBS_QUEUE, max_deliveries=1 + settings.queue_max_retries)
        limiter = UserLimiter(PlanPolicy.from_settings(settings))
        stale = StaleJobPolicy(
            unstarted_seconds=settings.stale_unstarted_job_seconds,
            running_seconds=settings.stale_running_job_seconds,
        )
        notifier = ChangeNotifier(database)
        events = JobEventLog(notifier)
        webhook_policy = WebhookPolicy.from_settings(settings)
        webhook_queue = MessageQueue(WEBHOOKS_QUEUE, max_deliveries=webhook_policy.max_deliveries)
        events.subscribers.append(WebhookOutbox(webhook_queue))
        lifecycle = JobLifecycle(
            database,
            limiter,
            queue,
            stale,
            events,
            output_sets=OutputSetPolicy(settings.resolved_public_base_url),
        )
        jobs = JobsService(database, lifecycle, storage, settings)
        analysis_lifecycle = AnalysisLifecycle(
            database,
            queue,
            events,
            AnalysisPolicy(
                max_concepts_per_job=settings.max_analysis_concepts,
                public_base_url=settings.resolved_public_base_url,
                batch_concurrency=settings.queue_batch_concurrency,
            ),
        )
        set_lifecycle = OutputSetLifecycle(database, events)
        delivery = DeliveryService(
            database,
            queue,
            lifecycle,
            storage,
            settings.presign_ttl_seconds,
            analysis_lifecycle,
            set_lifecycle,
        )
        retention = JobRetention(lifecycle, storage, settings.result_retention_days)
        return cls(
            settings=settings,
            database=database,
            tokens=tokens,
            storage=storage,
            upload_admission=JobUploadAdmission(database),
            queue=queue,
            limiter=limiter,
            notifier=notifier,
            events=events,
            lifecycle=lifecycle,
            retention=retention,
            auth=AuthService(database, tokens, limiter, settings.device_hash_key),
            account=AccountService(database, limiter, lifecycle, storage),
            rules=RulesService(database, limiter),
            jobs=jobs,
            analyses=AnalysisService(
                database,
                analysis_lifecycle,
                jobs,
                storage,
                settings.presign_ttl_seconds,
                settings.max_result_bytes,
            ),
            output_sets=OutputSetService(
                database, set_lifecycle, storage, settings.max_result_bytes
            ),
            job_streams=JobStreamService(
                database,
                jobs,
                storage,
                notifier,
                StreamSlots(settings.max_streams_per_user),
                settings.stream_ping_seconds,
                settings.presign_ttl_seconds,
            ),
            webhook_policy=webhook_policy,
            webhook_queue=webhook_queue,
            webhook_secrets=WebhookSecretService(database),
            delivery=delivery,
            shares=ShareService(database, storage, settings),
            background=BackgroundDuties(
                delivery,
                lifecycle,
                retention,
                settings.background_interval_seconds,
                orphans=_orphan_sweep(settings, database, storage),
                partials=_partial_sweep(settings, storage),
            ),
            rate_limits=RateLimits(settings),
        )

    def state_entries(self) -> dict[str, object]:
        """What routes may ask for by name (see `http.deps.service_dependency`)."""
        return {
            "database": self.database,
            "tokens": self.tokens,
            "callback_secret": self.settings.callback_secret,
            "metrics_token": self.settings.metrics_token,
            "queue": self.queue,
            "auth": self.auth,
            "account": self.account,
            "rules": self.rules,
            "jobs": self.jobs,
            "analyses": self.analyses,
            "output_sets": self.output_sets,
            "job_streams": self.job_streams,
            "webhook_secrets": self.webhook_secrets,
            "delivery": self.delivery,
            "shares": self.shares,
            "rate_limits": self.rate_limits,
        }

    async def close(self) -> None:
        """Release pools and clients."""
        await self.notifier.close()
        await self.storage.close()
        await self.rate_limits.close()
        await self.database.dispose()


def _orphan_sweep(
    settings: Settings, database: Database, storage: ObjectStorage
) -> OrphanedObjectSweep | None:
    """S3 cannot revoke a pre-signed PUT, so objects under deleted jobs are swept after."""
    if isinstance(storage, S3Storage) and settings.s3_orphan_sweep:
        return OrphanedObjectSweep(database, storage, storage)
    return None


def _partial_sweep(settings: Settings, storage: ObjectStorage) -> StalePartialSweep | None:
    """Local storage refuses uploads to deleted jobs itself; only interrupted ones linger."""
    if isinstance(storage, LocalStorage):
        return StalePartialSweep(storage.root, settings.partial_upload_max_idle_seconds)
    return None
