"""The small hierarchy of errors certpush shows to people.

Every message must tell the reader what went wrong and what to do next;
the UI, the CLI and the API print ``str(error)`` unchanged.
"""


class CertpushError(Exception):
    """Base class: an expected failure with a human message."""


class CertificateParseError(CertpushError):
    """Input bytes are not a certificate or key we can read."""


class WrongPasswordError(CertificateParseError):
    """A PKCS#12 file or private key needs a password we were not given or that is wrong."""


class KeyMismatchError(CertpushError):
    """A private key matches no certificate in the inventory."""


class AuthError(CertpushError):
    """Login failed or the user may not do this."""


class PermissionDenied(AuthError):
    """The user is logged in but their role does not allow the action."""


class ConfigError(CertpushError):
    """Settings are missing or inconsistent (master key, database URL...)."""


class NotFound(CertpushError):
    """The thing asked for does not exist."""


class WeakPasswordError(CertpushError):
    """A new password is too short, too common or the user name itself."""


class WindowError(CertpushError):
    """A maintenance window is written wrongly; the message names the line and the part."""


class MasterKeyMissing(ConfigError):
    """No master key is configured: sealing and opening secrets are unavailable until one is."""


class SealedValueError(ConfigError):
    """A sealed value cannot be opened: damaged, bound to another record, or sealed by a key
    the keyring does not hold. The message never contains the value."""
