"""Which signed uploads local storage still accepts, answered from the jobs."""

from __future__ import annotations

from s3api.db.engine import Database
from s3api.jobs import repository
from s3api.jobs.analysis import repository as analysis_repository
from s3api.jobs.analysis.schemas import AnalysisStatus
from s3api.jobs.output_sets import repository as sets_repository
from s3api.jobs.output_sets.keys import SET_FILE_PREFIX
from s3api.jobs.output_sets.schemas import OutputSetStatus
from s3api.jobs.states import JobStatus
from s3api.storage.keys import owner_of_key

# the worker writes results and previews while the job waits for or receives them
_RESULT_WRITING = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


class JobUploadAdmission:
    """An `UploadAdmission`: inputs only while their job is `created`, results only while
    it is queued or running, label maps also while the job's analysis runs, a set's files
    while the set is pending after its job ended, and nothing for a job (or user) that no
    longer exists.

    So a signed URL kept past `DELETE /jobs/{id}` or `DELETE /me` stores nothing under the
    deleted job, and a late upload cannot replace an input that confirm-upload verified.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    async def __call__(self, key: str) -> bool:
        """True while the job that `key` lies under still expects this upload."""
        owner = owner_of_key(key)
        if owner is None:
            return False
        async with self.database.read() as connection:
            job = await repository.find_job(connection, owner.job_id, user_id=owner.user_id)
            if job is None:
                return False
            if owner.is_input:
                return job.status is JobStatus.CREATED
            if owner.prefix == "masks/" and job.status is JobStatus.UPLOADED:
                analysis = await analysis_repository.find_analysis(connection, job.id)
                return analysis is not None and analysis.status is AnalysisStatus.RUNNING
            if owner.prefix == "outputs/" and key.rsplit("/", 1)[-1].startswith(SET_FILE_PREFIX):
                output_set = await sets_repository.find_set(connection, job.id)
                return (
                    output_set is not None
                    and output_set.status is OutputSetStatus.PENDING
                    and key in sets_repository.object_keys(output_set)
                )
        return job.status in _RESULT_WRITING
