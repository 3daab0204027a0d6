"""Errors that end a job with one message naming the problem and its fix."""


class PagsError(Exception):
    """Base class: a problem the user can fix, reported without a traceback dump."""


class ConfigError(PagsError):
    """A config value is invalid; the message names the key and the fix."""


class DataError(PagsError):
    """A data file or data set is missing, unreadable or malformed."""


class CheckpointError(PagsError):
    """A model or checkpoint file does not match what the job expects."""


class TrainingDiverged(PagsError):
    """The training loss became NaN or infinite."""


class WeightsError(PagsError):
    """A third-party weight file is missing, unpinned or does not match its pinned hash."""


class CodeChanged(PagsError):
    """The code a job would run is not the code its run was planned with."""


class DownloadError(PagsError):
    """A download failed or ended short; nothing of it is kept."""


class DeviceError(PagsError):
    """A job asked for a GPU that is absent or that this torch cannot use."""


class NoSpaceLeft(PagsError):
    """A result could not be written: its file system is full or the quota is used up."""


class JobLocked(PagsError):
    """Another process holds the lock of the files this job would write (``pags.joblock``)."""


class ProvenanceError(PagsError):
    """A result carries no record of the code and values that made it (``pags.sidecar``)."""


class EnvironmentProblem(PagsError):
    """The software environment the jobs would run in cannot run them (``pags.preflight``)."""
