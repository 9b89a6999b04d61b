"""FaceCloak: personalised face-privacy cloaks from a single photo.

Packages:
    facecloak.models  model registry, fetching, ONNX and torch runtimes
    facecloak.faces   decoding, detection, five-point alignment, paste-back
"""

__version__ = "0.1.0"
