"""Differentiable affine warp that matches cv2.warpAffine (bilinear).

Kept apart from `align` so that decoding, detection and alignment do not
import torch.

Convention (the same as `facecloak.faces.align`):
    * `dst_from_src` is a (N, 2, 3) matrix in *pixel* units that maps a source
      point (x, y) to the output point: ``p_dst = M[:, :2] @ p_src + M[:, 2]``.
      It is exactly the matrix you would pass to ``cv2.warpAffine`` (without
      WARP_INVERSE_MAP), e.g. `aligned_from_image` from `align_face`.
    * (x, y) = (column, row); pixel centres at integer coordinates, so a W-wide
      image spans x in [-0.5, W - 0.5].
    * Internally the matrix is converted into the normalised frame of
      ``F.affine_grid`` / ``F.grid_sample`` with ``align_corners=False``
      (-1 and +1 are the outer edges of the corner pixels), which is the same
      pixel-centre convention as OpenCV's.
    * Outside the source reads 0 (cv2.BORDER_CONSTANT with value 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pixel_to_norm(width: int, height: int, like: torch.Tensor) -> torch.Tensor:
    """(3, 3) matrix: pixel (x, y) -> normalised (u, v) for align_corners=False."""
    return like.new_tensor(
        [[2.0 / width, 0.0, 1.0 / width - 1.0], [0.0, 2.0 / height, 1.0 / height - 1.0],
         [0.0, 0.0, 1.0]]
    )


def _norm_to_pixel(width: int, height: int, like: torch.Tensor) -> torch.Tensor:
    """(3, 3) matrix: normalised (u, v) -> pixel (x, y), inverse of _pixel_to_norm."""
    return like.new_tensor(
        [[width / 2.0, 0.0, (width - 1) / 2.0], [0.0, height / 2.0, (height - 1) / 2.0],
         [0.0, 0.0, 1.0]]
    )


def warp_affine_torch(
    img: torch.Tensor, dst_from_src: torch.Tensor, out_size: tuple[int, int], padding: str = "zeros"
) -> torch.Tensor:
    """Warp a batch of images by pixel-unit affine matrices, like cv2.warpAffine.

    Shape:
        img: (N, C, H, W) float, any range (the warp is linear in it).
        dst_from_src: (N, 2, 3) or (2, 3), pixel units (see module Convention).
        out_size: (out_height, out_width). NOTE: (h, w), torch order, unlike
            cv2's dsize=(w, h).
        padding: what lies outside ``img``: "zeros" (cv2's constant 0
            border) or "reflection" / "border" (grid_sample's modes).
        returns: (N, C, out_height, out_width), same dtype as img.
    Differentiable in `img` and in `dst_from_src`.
    """
    if img.dim() != 4:
        raise ValueError(f"img must be (N, C, H, W), got shape {tuple(img.shape)}")
    n, c, h, w = img.shape
    m = dst_from_src.to(dtype=img.dtype, device=img.device)
    if m.dim() == 2:
        m = m.unsqueeze(0).expand(n, 2, 3)
    if m.shape != (n, 2, 3):
        raise ValueError(f"dst_from_src must be (N, 2, 3) with N={n}, got {tuple(m.shape)}")
    out_h, out_w = int(out_size[0]), int(out_size[1])
    bottom = m.new_tensor([0.0, 0.0, 1.0]).expand(n, 1, 3)
    dst_from_src_3 = torch.cat([m, bottom], dim=1)  # (N, 3, 3)
    src_from_dst = torch.linalg.inv(dst_from_src_3)
    # theta: output normalised -> input normalised, as affine_grid wants.
    theta = _pixel_to_norm(w, h, m) @ src_from_dst @ _norm_to_pixel(out_w, out_h, m)
    grid = F.affine_grid(theta[:, :2, :], [n, c, out_h, out_w], align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode=padding, align_corners=False)
