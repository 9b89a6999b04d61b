"""Domain errors. Each message says what went wrong and what the user can do."""


class FaceCloakError(Exception):
    """Base class of every error this package raises on purpose."""


class UnknownModelError(FaceCloakError, KeyError):
    """A model name that the registry does not hold."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ModelFetchError(FaceCloakError):
    """A model could not be fetched, verified or converted."""


class ImageDecodeError(FaceCloakError):
    """The bytes are not an image we can read (empty, truncated, wrong type)."""


class ImageTooLargeError(FaceCloakError):
    """The image has more pixels than the configured cap."""


class NoFaceError(FaceCloakError):
    """No face was found where one was required."""


class ManyFacesError(FaceCloakError):
    """Several faces were found where exactly one was required."""


class FaceTooSmallError(FaceCloakError):
    """The face is too small to enrol or cloak reliably."""
