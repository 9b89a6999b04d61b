"""Convert published face-recognition weights to ONNX.

    tfgraph      read a frozen TF GraphDef (.pb) or a TFJS graph model
    tflite_graph read a float TFLite flatbuffer into the same representation
    tf_to_onnx   convert that representation to ONNX (NHWC in, NHWC out)
    export       one call per source format, with checks on the result
    apply_graph  the apply step (warp a mask into each face, add, round, clip) as
                 ONNX, for clients without torch (imports torch: not loaded here)
"""

from .export import SUPPORTED_FORMATS, export_onnx, check_onnx

__all__ = ["SUPPORTED_FORMATS", "export_onnx", "check_onnx"]
