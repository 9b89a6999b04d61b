"""The apply step as an ONNX graph: warp a cloak mask into each face, add, round, clip.

A client with onnxruntime but no torch applies a mask with the exported graph
the way `facecloak.cloak.apply.cloak_array` does:

    >>> model = export_apply()                       # onnx.ModelProto; onnx.save(model, "apply.onnx")
    >>> session = onnxruntime.InferenceSession(model.SerializeToString())
    >>> cloaked = session.run(None, {"photo": rgb, "mask": delta, "aligned_from_image": mats})[0]

Shape (graph inputs and output, by name):
    photo: (H, W, 3) uint8 RGB, any H and W.
    mask: (112, 112, 3) float32, pixel units, aligned frame (`CloakMask.delta`).
    aligned_from_image: (N, 2, 3) float64, one per face, any N (0 too): the
        matrix taking photo pixels to the 112 px ArcFace template
        (`facecloak.cloak.apply.aligned_from_landmarks`).
    cloaked: (H, W, 3) uint8.

Convention (as `facecloak.faces.align`): (x, y) = (column, row), pixel
centres at integer coordinates; a photo pixel p samples the mask at
``aligned_from_image @ (p, 1)``.

What it reproduces of `facecloak.faces.paste.paste_aligned`, face after face
(a face is added to the rounded, clipped result of the faces before it, which
matters where two footprints overlap):
    * footprint: only the box the 112 px square covers (its corners mapped
      into the photo, grown by 2 px, clipped) is read and written; every other
      pixel comes back bit for bit;
    * sampling: bilinear with zeros outside the mask, as cv2.warpAffine
      (INTER_LINEAR, BORDER_CONSTANT); OpenCV 5 samples at exact float
      positions, and so does GridSample;
    * antialiasing (`warp_antialiased`): for a face under 56 px (scale < 0.5)
      the part of the mask that lands in the footprint is first shrunk by area
      averaging (cv2.resize INTER_AREA, including its rule of dropping overlaps
      of 1e-3 px or less) to twice the face's scale. Here that is a
      (112, 112) weight matrix on each side of the mask; rows past the shrunk
      size are zero, which is the zero border cv2 samples there. A larger face
      gets identity matrices, so the two cases are one graph;
    * rounding half to even (np.rint, ONNX Round), then clipping to [0, 255].
Where it differs: the warped values are float32 sums in another order than
OpenCV's (about 1e-3 pixel units apart), so a value that lands within that of
x.5 may round the other way: one grey level, on a few values in ten thousand
of the footprints (tests/test_export_apply.py). Where two footprints overlap,
each face's rounding can go the other way; only a pixel where both do (the
same face listed twice, so both land near x.5 together) ends two levels apart.
Cost: the footprints' work plus one copy of the photo per face (the loop
rebuilds it with Concat): about 0.15-0.2 s for five faces in a 12-megapixel
photo on one core, against 25 ms for `cloak_array`, which writes in place.
"""

from __future__ import annotations

import io
import warnings

import onnx
import torch
import torch.nn.functional as F

SIZE = 112
#: GridSample entered the ONNX standard in opset 16.
OPSET = 17
INPUT_NAMES = ("photo", "mask", "aligned_from_image")
OUTPUT_NAME = "cloaked"


def area_weights(start: torch.Tensor, count: torch.Tensor, n_out: torch.Tensor, step: torch.Tensor,
                 size: int) -> torch.Tensor:
    """(size, size) float64 cv2 INTER_AREA weights along one axis.

    Row u < n_out averages source pixels [start + u * step, start + (u + 1) * step)
    of the ``count`` pixels from ``start`` on, each weighted by its overlap with
    that cell over ``step`` (overlaps of 1e-3 or less dropped, as OpenCV does);
    other rows are zero. All arguments but ``size`` are 0-d float64 tensors.
    """
    u = torch.arange(size).double().unsqueeze(1)
    j = torch.arange(size).double().unsqueeze(0) - start
    overlap = torch.minimum((u + 1.0) * step, j + 1.0) - torch.maximum(u * step, j)
    keep = (overlap > 1e-3) & (u < n_out) & (j < count)
    return torch.where(keep, overlap / step, torch.zeros_like(overlap))


class ApplyMask(torch.nn.Module):
    """(photo, mask, aligned_from_image) -> cloaked photo; see the module docstring.

    Scripted (`torch.jit.script`) for export, so the loop over faces stays a
    loop (ONNX Loop) for any number of faces.
    """

    def forward(self, photo: torch.Tensor, mask: torch.Tensor, aligned_from_image: torch.Tensor) -> torch.Tensor:
        size = 112
        height, width = photo.shape[0], photo.shape[1]
        src = mask.permute(2, 0, 1)  # (3, S, S)
        lo, hi = -0.5, size - 0.5
        corner_x = torch.tensor([lo, hi, lo, hi], dtype=torch.float64)
        corner_y = torch.tensor([lo, lo, hi, hi], dtype=torch.float64)
        out = photo
        for i in range(aligned_from_image.shape[0]):
            m = aligned_from_image[i].double()
            a, b, c, d, e, f = m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2]
            det = a * e - b * d
            # image_from_aligned, and the footprint: crop_footprint(..., margin=2).
            ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
            ic, if_ = -(ia * c + ib * f), -(id_ * c + ie * f)
            px = ia * corner_x + ib * corner_y + ic
            py = id_ * corner_x + ie * corner_y + if_
            x0 = torch.clamp(torch.floor(px.min() + 0.5) - 2.0, min=0.0)
            y0 = torch.clamp(torch.floor(py.min() + 0.5) - 2.0, min=0.0)
            x1 = torch.clamp(torch.ceil(px.max() + 0.5) + 2.0, max=float(width))
            y1 = torch.clamp(torch.ceil(py.max() + 0.5) + 2.0, max=float(height))
            inside = ((x1 > x0) & (y1 > y0)).float()  # 0: the square misses the photo
            x0 = torch.clamp(x0, max=float(width - 1))
            y0 = torch.clamp(y0, max=float(height - 1))
            x1 = torch.maximum(x1, x0 + 1.0)
            y1 = torch.maximum(y1, y0 + 1.0)

            # warp_antialiased: below scale 0.5, shrink the mask region the footprint sees.
            scale = 1.0 / torch.sqrt(torch.abs(det))
            factor = 2.0 * scale
            qx = a * torch.stack([x0, x1, x0, x1]) + b * torch.stack([y0, y0, y1, y1]) + (c - 0.5 * (a + b))
            qy = d * torch.stack([x0, x1, x0, x1]) + e * torch.stack([y0, y0, y1, y1]) + (f - 0.5 * (d + e))
            margin = torch.ceil(2.0 / factor) + 2.0
            sx0 = torch.clamp(torch.floor(qx.min()) - margin, min=0.0)
            sy0 = torch.clamp(torch.floor(qy.min()) - margin, min=0.0)
            sx1 = torch.clamp(torch.ceil(qx.max()) + margin + 1.0, max=float(size))
            sy1 = torch.clamp(torch.ceil(qy.max()) + margin + 1.0, max=float(size))
            shrink = (scale < 0.5) & (sx1 > sx0) & (sy1 > sy0)
            full, zero = torch.full_like(scale, float(size)), torch.zeros_like(scale)
            nx = torch.where(shrink, sx1 - sx0, full)
            ny = torch.where(shrink, sy1 - sy0, full)
            ox = torch.where(shrink, sx0, zero)
            oy = torch.where(shrink, sy0, zero)
            rw = torch.where(shrink, torch.clamp(torch.round(nx * factor), min=1.0), full)
            rh = torch.where(shrink, torch.clamp(torch.round(ny * factor), min=1.0), full)
            step_x, step_y = nx / rw, ny / rh
            rx = area_weights(ox, nx, rw, step_x, size).float()
            ry = area_weights(oy, ny, rh, step_y, size).float()
            small = ry @ src @ rx.t()  # (3, S, S): the shrunk mask, zero past (rh, rw)

            # Bilinear sampling of `small` at each footprint pixel.
            ix0, iy0 = int(x0.long()), int(y0.long())
            ix1, iy1 = int(x1.long()), int(y1.long())
            xs = torch.arange(ix0, ix1).double().unsqueeze(0)
            ys = torch.arange(iy0, iy1).double().unsqueeze(1)
            u = (a * xs + b * ys + c - ox + 0.5) / step_x - 0.5
            v = (d * xs + e * ys + f - oy + 0.5) / step_y - 0.5
            grid = torch.stack([(2.0 * u + 1.0) / size - 1.0, (2.0 * v + 1.0) / size - 1.0], dim=-1)
            warped = F.grid_sample(small.unsqueeze(0), grid.float().unsqueeze(0), mode="bilinear",
                                   padding_mode="zeros", align_corners=False)
            warped = warped[0].permute(1, 2, 0) * inside

            strip = out[iy0:iy1]
            roi = strip[:, ix0:ix1].float()
            new = torch.clamp(torch.round(roi + warped), 0.0, 255.0).to(torch.uint8)
            strip = torch.cat([strip[:, :ix0], new, strip[:, ix1:]], dim=1)
            out = torch.cat([out[:iy0], strip, out[iy1:]], dim=0)
        return out


def export_apply(opset: int = OPSET) -> onnx.ModelProto:
    """The apply step as a checked ONNX model (inputs and output as in the module docstring).

    Uses torch's TorchScript exporter (``dynamo=False``) on the scripted
    `ApplyMask`: it keeps the loop over faces, needs nothing beyond torch and
    onnx, and handles GridSample from opset 16.
    """
    if opset < 16:
        raise ValueError(f"the apply graph needs opset >= 16 (GridSample), got {opset}")
    module = torch.jit.script(ApplyMask())
    example = (torch.zeros(4, 4, 3, dtype=torch.uint8), torch.zeros(SIZE, SIZE, 3),
               torch.zeros(1, 2, 3, dtype=torch.float64))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module, example, buf, dynamo=False, opset_version=opset,
                          input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                          dynamic_axes={"photo": {0: "height", 1: "width"}, "aligned_from_image": {0: "faces"},
                                        OUTPUT_NAME: {0: "height", 1: "width"}})
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model)
    model.doc_string = "FaceCloak apply: photo (H, W, 3) uint8 + mask (112, 112, 3) float32 " \
                       "+ aligned_from_image (N, 2, 3) float64 -> cloaked (H, W, 3) uint8"
    return model
